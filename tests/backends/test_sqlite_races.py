"""SQLite under real concurrency: Brokers of the same owner, of different owners and of different
stacks reconcile one service at once, from threads and from processes, over endpoint names they
all want; others create and remove the parents under them. Whatever the interleaving:

* no Broker ever changes or deletes a row that is not its own: every statement each Broker's
  registry runs is audited by SQLite itself (an update or delete, a cascade included, of a row
  whose owner pair is not the Broker's is recorded), and the audit must stay empty;
* a third owner's rows, in the same service, are byte for byte what they were (revision too);
* every failure is one a race explains (someone else's endpoint, a conflict, a lost create,
  a parent removed meanwhile), never a raw or unexpected error.

The figures are printed (``-s``) for the README.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service, errors
from servregistry.backends.sqlite import SqliteRegistry
from tests.fixtures.sqlite import AuditedRegistry, create_audit, dump, foreign_writes, owned_by

#: names every Broker wants (the third owner's c0..c2 among them: always someone else's)
NAMES = [f"e{i}" for i in range(8)] + ["c0", "c1", "c2"]
C = MetadataPair("owner", "team-c")
#: failures a race explains
EXPLAINED = (
    errors.EndpointNotOwnedError,
    errors.ConflictError,
    errors.AlreadyExistsError,
    errors.NotFoundError,  # ParentNotFoundError included
    errors.NamespaceHasForeignServicesError,
    errors.ServiceHasForeignEndpointsError,
)
FIGURES: Counter[str] = Counter()


def seeded(tmp_path: Path) -> tuple[Path, Path]:
    """A registry where team A owns prod/web, and team C owns c0..c2 in it; and the audit."""
    path, audit = tmp_path / "registry.db", tmp_path / "audit.db"
    create_audit(audit)
    with SqliteRegistry(path) as reg:
        Broker(reg, MetadataPair("owner", "team-a")).manage_ns(Namespace("prod"))
        Broker(reg, MetadataPair("owner", "team-a")).manage_serv(Service("web", "prod"))
        c = [Endpoint(n, "prod", "web", "10.3.3.3", 3000 + i) for i, n in enumerate(NAMES[-3:])]
        Broker(reg, C).manage_serv_endps("prod", "web", c)
    return path, audit


def reconcile(broker: Broker, rng: random.Random, counts: Counter[str]) -> None:
    """One reconcile of prod/web toward a random part of NAMES, at a random port."""
    port = rng.randint(1, 65535)
    wanted = [
        Endpoint(n, "prod", "web", f"10.0.{rng.randint(0, 255)}.1", port)
        for n in rng.sample(NAMES, rng.randint(0, len(NAMES)))
    ]
    counts["reconciles"] += 1
    try:
        failures = broker.manage_serv_endps("prod", "web", wanted)
    except errors.ServiceRegistryError as exc:
        counts[f"raised {type(exc).__name__}"] += 1
        return
    for failure in failures.values():
        name = type(failure).__name__
        explained = isinstance(failure, EXPLAINED)
        counts[name if explained else f"unexplained {name}: {failure}"] += 1


def churn_parents(broker: Broker, rng: random.Random, counts: Counter[str], owner: str) -> None:
    """Team A creates and removes namespace ``churn`` (force) with its service ``s``; team B
    keeps adding its own service to ``churn`` and its own endpoint to ``churn/s``, and removing
    them. A's removals must never take B's objects with them."""
    counts["parent rounds"] += 1
    endp = Endpoint(f"{owner}-endp", "churn", "s", "10.0.0.1", 80)
    try:
        if owner == "team-a":
            broker.manage_ns(Namespace("churn"))
            broker.manage_serv(Service("s", "churn"))
            broker.manage_serv_endps("churn", "s", [endp])
            broker.remove_ns("churn", force_not_empty=True)
            counts["namespace removed"] += 1
        elif rng.random() < 0.5:
            broker.manage_serv(Service("b-serv", "churn"))
            failures = broker.manage_serv_endps("churn", "s", [endp])
            for exc in failures.values():
                if not isinstance(exc, EXPLAINED):
                    counts[f"unexplained {type(exc).__name__}: {exc}"] += 1
        else:
            broker.manage_serv_endps("churn", "s", [])
            broker.remove_serv("churn", "b-serv", force_not_empty=True)
    except EXPLAINED as exc:
        counts[type(exc).__name__] += 1
    except errors.ServiceRegistryError as exc:
        counts[f"unexplained {type(exc).__name__}: {exc}"] += 1


def run_broker(
    path: str,
    audit: str,
    owner: str,
    stack: str | None,
    seed: int,
    rounds: int,
    work: str,
    start: Any,
    registry: SqliteRegistry | None = None,
) -> Counter[str]:
    """One Broker's rounds (in a thread or a process); returns what happened."""
    pair = MetadataPair("owner", owner)
    stack_pair = MetadataPair("stack", stack) if stack else None
    reg = registry or AuditedRegistry(path, audit, pair, stack_pair)
    broker = Broker(reg, pair, stack=stack_pair)
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    reg.list_ns()  # opened before the start
    start.wait()
    for _ in range(rounds):
        if work == "endpoints":
            reconcile(broker, rng, counts)
        else:
            churn_parents(broker, rng, counts, owner)
    if registry is None:
        reg.close()
    return counts


def _in_process(queue: Any, *args: Any) -> None:
    queue.put(run_broker(*args))


def check(path: Path, audit: Path, c_rows: dict[str, Any], counts: Counter[str]) -> None:
    """What must hold after any race."""
    unexplained = {k: v for k, v in counts.items() if "unexplained" in k or "raised" in k}
    assert unexplained == {}
    assert foreign_writes(audit) == []
    assert dump(path, where=owned_by("team-c")) == c_rows
    with SqliteRegistry(path) as reg:
        rows = reg.list_endp("prod", "web")
    assert all(not e.unreadable for e in rows)
    assert {e.metadata["owner"] for e in rows} <= {"team-a", "team-b", "team-c"}
    FIGURES.update(counts)


NO_STACK: str | None = None
SCENARIOS: dict[str, list[tuple[str, str | None]]] = {
    # (owner, stack) of each Broker
    "two owners, two Brokers each": [("team-a", NO_STACK)] * 2 + [("team-b", NO_STACK)] * 2,
    "one owner, two stacks": [("team-a", "dev"), ("team-a", "staging")] * 2,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_brokers_in_threads_never_write_what_is_not_theirs(tmp_path: Path, scenario: str) -> None:
    path, audit = seeded(tmp_path)
    c_rows = dump(path, where=owned_by("team-c"))
    brokers = SCENARIOS[scenario]
    start = threading.Barrier(len(brokers))
    results: list[Counter[str]] = []
    threads = [
        threading.Thread(
            target=lambda i=i, o=o, s=s: results.append(
                run_broker(str(path), str(audit), o, s, i, 40, "endpoints", start)
            )
        )
        for i, (o, s) in enumerate(brokers)
    ]
    _run(threads)
    counts: Counter[str] = sum(results, Counter())
    assert counts["reconciles"] == 40 * len(brokers)
    check(path, audit, c_rows, counts)
    print(f"\nthreads, {scenario}: {_summary(counts)}")


def test_brokers_sharing_one_registry_object_never_write_what_is_not_theirs(
    tmp_path: Path,
) -> None:
    """Two owners, each with one registry object shared by two Brokers in two threads."""
    path, audit = seeded(tmp_path)
    c_rows = dump(path, where=owned_by("team-c"))
    shared = {
        o: AuditedRegistry(path, audit, MetadataPair("owner", o)) for o in ("team-a", "team-b")
    }
    start = threading.Barrier(4)
    results: list[Counter[str]] = []
    threads = [
        threading.Thread(
            target=lambda i=i, o=o: results.append(
                run_broker(str(path), str(audit), o, None, i, 40, "endpoints", start, shared[o])
            )
        )
        for i, o in enumerate(["team-a", "team-a", "team-b", "team-b"])
    ]
    _run(threads)
    for reg in shared.values():
        reg.close()
    counts: Counter[str] = sum(results, Counter())
    check(path, audit, c_rows, counts)
    print(f"\nthreads sharing a registry object: {_summary(counts)}")


def test_brokers_in_processes_never_write_what_is_not_theirs(tmp_path: Path) -> None:
    path, audit = seeded(tmp_path)
    c_rows = dump(path, where=owned_by("team-c"))
    ctx = multiprocessing.get_context("spawn")
    owners = ["team-a", "team-a", "team-b", "team-b"]
    start, queue = ctx.Barrier(len(owners)), ctx.Queue()
    processes = [
        ctx.Process(
            target=_in_process,
            args=(queue, str(path), str(audit), o, None, i, 30, "endpoints", start),
        )
        for i, o in enumerate(owners)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0
    counts: Counter[str] = sum(results, Counter())
    assert counts["reconciles"] == 30 * len(owners)
    check(path, audit, c_rows, counts)
    print(f"\nprocesses, two owners, two Brokers each: {_summary(counts)}")


def test_removing_parents_never_takes_another_owners_objects(tmp_path: Path) -> None:
    path, audit = seeded(tmp_path)
    c_rows = dump(path, where=owned_by("team-c"))
    counts: Counter[str] = Counter()
    # when team B's objects happen to be there at every one of A's removals, no namespace is
    # removed: the race is run again (checked each time) until one was, at most 5 times
    for attempt in range(5):
        round_counts = _parents_race(path, audit, seed=10 * attempt)
        check(path, audit, c_rows, round_counts)
        counts += round_counts
        if counts["namespace removed"]:
            break
    assert counts["namespace removed"] > 0  # the race really ran both ways
    print(f"\nparents removed under other owners' objects: {_summary(counts)}")


def test_the_audit_records_a_foreign_write(tmp_path: Path) -> None:
    """The instrument itself: a write to another owner's row (here a blind delete through the
    registry's own call, which no Broker makes) is recorded."""
    path, audit = seeded(tmp_path)
    with AuditedRegistry(path, audit, MetadataPair("owner", "team-a")) as reg:
        reg.delete_endp("prod", "web", "c0")
        reg.delete_serv("prod", "web")  # a cascade over c1 and c2
    recorded = sorted(row[3] for row in foreign_writes(audit))
    assert recorded == ["prod/web/c0", "prod/web/c1", "prod/web/c2"]


def test_race_figures() -> None:
    """Runs last in this file: the totals the README quotes."""
    cases = FIGURES["reconciles"] + FIGURES["parent rounds"]
    conflicts = FIGURES["ConflictError"]
    print(
        f"\nSQLite race suite: {cases} concurrent reconciles and parent rounds, "
        f"{conflicts} conflicts refused, "
        f"{FIGURES['EndpointNotOwnedError']} foreign endpoints reported, foreign writes: 0"
    )
    assert cases > 0


def _parents_race(path: Path, audit: Path, seed: int) -> Counter[str]:
    """Team A's parent rounds against two Brokers of team B's, in threads."""
    start = threading.Barrier(3)
    results: list[Counter[str]] = []
    threads = [
        threading.Thread(
            target=lambda i=i, o=o: results.append(
                run_broker(str(path), str(audit), o, None, seed + i, 60, "parents", start)
            )
        )
        for i, o in enumerate(["team-a", "team-b", "team-b"])
    ]
    _run(threads)
    return sum(results, Counter())


def _run(threads: list[threading.Thread]) -> None:
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
        assert not thread.is_alive(), f"still running after {time.monotonic() - started:.0f} s"


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
