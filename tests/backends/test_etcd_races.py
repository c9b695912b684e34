"""Brokers of the same and of different owners racing on one service of a real etcd, in threads
and in processes. etcd's own revision history (a watch from the revision before the race, with
each event's previous value) proves that nobody ever wrote what was not theirs:

* no event at all on a third owner's keys (and their bytes, create and mod revisions unchanged);
* no put that changes a key's owner (an overwrite of someone else's endpoint);
* no delete of a key owned by ``other`` (whose desired set is always the whole pool, so it never
  deletes its own: any delete of its keys would be someone else's).
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import etcd3
import grpc
import pytest
import yaml
from etcd3.etcdrpc import kv_pb2

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service, errors
from servregistry.backends.etcd import EtcdRegistry, layout
from servregistry.backends.etcd.client import prefix_range_end
from tests.fixtures.etcd import EtcdServer, snapshot

POOL = [f"n{i:03d}" for i in range(200)]
OWNER_A = MetadataPair("owner", "cnwan-operator")
OWNER_B = MetadataPair("owner", "other")
THIRD = {"owner": "third"}


def _round_a(reg: EtcdRegistry, rng: random.Random) -> Counter[str]:
    names = rng.sample(POOL, rng.randint(40, len(POOL)))
    port = rng.randint(1, 9)
    desired = [Endpoint(n, "prod", "web", "10.0.0.1", port) for n in names]
    return _kinds(Broker(reg, OWNER_A).manage_serv_endps("prod", "web", desired))


def _round_b(reg: EtcdRegistry, rng: random.Random) -> Counter[str]:
    port = rng.randint(1, 9)
    desired = [Endpoint(n, "prod", "web", "10.0.0.2", port) for n in POOL]
    return _kinds(Broker(reg, OWNER_B).manage_serv_endps("prod", "web", desired))


def _round_remove(reg: EtcdRegistry, rng: random.Random) -> Counter[str]:
    broker = Broker(reg, OWNER_A)
    try:
        broker.remove_serv("prod", "web", force_not_empty=True)
        outcome = Counter({"service removed": 1})
    except errors.ServiceRegistryError as exc:
        outcome = Counter({type(exc).__name__: 1})
    time.sleep(rng.random() * 0.05)
    broker.manage_serv(Service("web", "prod"))
    return outcome


ROUNDS: dict[str, Callable[[EtcdRegistry, random.Random], Counter[str]]] = {
    "a": _round_a,
    "b": _round_b,
    "remove": _round_remove,
}


def _kinds(failures: dict[str, errors.ServiceRegistryError]) -> Counter[str]:
    for exc in failures.values():
        assert isinstance(exc, errors.ServiceRegistryError)
    return Counter(type(exc).__name__ for exc in failures.values())


def worker(hosts: list[str], prefix: str, role: str, rounds: int, seed: int) -> Counter[str]:
    """One racer (a thread or a process): ``rounds`` runs of its role on its own registry."""
    reg = EtcdRegistry(hosts, prefix=prefix, timeout=30)
    rng = random.Random(seed)
    seen: Counter[str] = Counter()
    try:
        for _ in range(rounds):
            seen += ROUNDS[role](reg, rng)
            seen["runs"] += 1
    finally:
        reg.close()
    return seen


def _process_worker(args: tuple[list[str], str, str, int, int]) -> Counter[str]:
    return worker(*args)


class Race:
    def __init__(self, server: EtcdServer) -> None:
        self.hosts = [server.client_url]
        self.prefix = f"/race-{uuid.uuid4().hex[:10]}/"
        reg = EtcdRegistry(self.hosts, prefix=self.prefix)
        Broker(reg, OWNER_A).manage_ns(Namespace("prod"))
        Broker(reg, OWNER_A).manage_serv(Service("web", "prod"))
        for i in range(20):
            theirs = Endpoint(f"third-{i}", "prod", "web", "10.3.3.3", 3, THIRD)
            reg.client.put(layout.key_of(self.prefix, theirs), layout.encode(theirs))
        self.start_revision = int(
            reg.client.range(etcd3.etcdrpc.RangeRequest(key=b"/")).header.revision
        )
        reg.close()
        self.third = self.third_now()

    def third_now(self) -> dict[bytes, tuple[bytes, int, int]]:
        base = layout.serv_key(self.prefix, "prod", "web") + "/endpoints/third-"
        return snapshot(self.hosts, base)

    def history(self) -> list[Any]:
        """Every put and delete under the prefix since the race began, with previous values
        (etcd's Watch from a past revision replays its history)."""
        rpc = etcd3.etcdrpc
        channel = grpc.insecure_channel(self.hosts[0])
        try:
            kv = rpc.KVStub(channel)
            end = int(kv.Range(rpc.RangeRequest(key=b"/"), timeout=30).header.revision)
            events: list[Any] = []
            if end <= self.start_revision:
                return events
            key = self.prefix.encode()
            create = rpc.WatchCreateRequest(
                key=key,
                range_end=prefix_range_end(key),
                start_revision=self.start_revision + 1,
                prev_kv=True,
            )
            stream = rpc.WatchStub(channel).Watch(
                iter([rpc.WatchRequest(create_request=create)]), timeout=60
            )
            for response in stream:
                events.extend(response.events)
                if events and events[-1].kv.mod_revision >= end:
                    break
            stream.cancel()
            return events
        finally:
            channel.close()

    def check(self) -> dict[str, int]:
        """The proofs of the module docstring; returns the figures."""
        assert self.third_now() == self.third  # byte for byte, same revisions
        events = self.history()
        foreign_writes = 0
        put = kv_pb2.Event.PUT
        for event in events:
            key = event.kv.key.decode()
            prev = _owner(event.prev_kv.value) if event.HasField("prev_kv") else None
            if "/endpoints/third-" in key:
                foreign_writes += 1
            elif event.type == put and "/endpoints/" in key:
                if prev is not None and prev != _owner(event.kv.value):
                    foreign_writes += 1
            elif event.type != put and prev == OWNER_B.value:
                foreign_writes += 1
        assert foreign_writes == 0
        return {"events": len(events), "foreign writes": foreign_writes}


def _owner(value: bytes) -> str | None:
    doc = yaml.safe_load(value) if value else None
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    return metadata.get("owner") if isinstance(metadata, dict) else None


ROLES = ["a", "a", "a", "b", "b", "remove"]


def test_brokers_racing_in_threads_never_write_what_is_not_theirs(
    etcd_server: EtcdServer,
) -> None:
    race = Race(etcd_server)
    results: list[Counter[str]] = []
    problems: list[BaseException] = []

    def run(role: str, seed: int) -> None:
        try:
            results.append(worker(race.hosts, race.prefix, role, 6, seed))
        except BaseException as exc:  # surfaced below
            problems.append(exc)

    threads = [threading.Thread(target=run, args=(r, i)) for i, r in enumerate(ROLES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems, problems
    figures = race.check()
    total = sum(results, Counter())
    print(f"\netcd race (threads): {dict(total)} {figures}")
    assert total["runs"] == 6 * len(ROLES)


def test_brokers_racing_in_processes_never_write_what_is_not_theirs(
    etcd_server: EtcdServer,
) -> None:
    race = Race(etcd_server)
    ctx = multiprocessing.get_context("spawn")
    jobs = [(race.hosts, race.prefix, role, 4, 100 + i) for i, role in enumerate(ROLES)]
    with ctx.Pool(len(jobs)) as pool:
        results = pool.map(_process_worker, jobs)
    figures = race.check()
    total = sum(results, Counter())
    print(f"\netcd race (processes): {dict(total)} {figures}")
    assert total["runs"] == 4 * len(ROLES)


@pytest.mark.parametrize("seed", [1, 2])
def test_after_a_race_the_next_runs_converge(etcd_server: EtcdServer, seed: int) -> None:
    race = Race(etcd_server)
    threads = [
        threading.Thread(target=worker, args=(race.hosts, race.prefix, r, 3, seed * 10 + i))
        for i, r in enumerate(ROLES)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reg = EtcdRegistry(race.hosts, prefix=race.prefix)
    try:
        Broker(reg, OWNER_A).manage_serv(Service("web", "prod"))
        mine = [Endpoint(n, "prod", "web", "10.0.0.1", 7) for n in POOL[:100]]
        first = Broker(reg, OWNER_A).manage_serv_endps("prod", "web", mine)
        again = Broker(reg, OWNER_A).manage_serv_endps("prod", "web", mine)
        assert set(again) == set(first)  # a second run has nothing left to do
        assert all(isinstance(e, errors.EndpointNotOwnedError) for e in again.values())
        for endp in reg.list_endp("prod", "web"):
            if endp.metadata.get("owner") == OWNER_A.value:
                assert (endp.name, endp.port) in {(e.name, 7) for e in mine}
    finally:
        reg.close()
    race.check()


def test_the_history_check_catches_a_foreign_write(etcd_server: EtcdServer) -> None:
    """The proof can fail: one unguarded overwrite of a third owner's endpoint is caught."""
    race = Race(etcd_server)
    key = layout.endp_key(race.prefix, "prod", "web", "third-3")
    reg = EtcdRegistry(race.hosts, prefix=race.prefix)
    try:
        reg.client.put(key, next(iter(race.third.values()))[0])  # same bytes, new revision
    finally:
        reg.close()
    with pytest.raises(AssertionError):
        race.check()
    race.third = race.third_now()
    with pytest.raises(AssertionError):  # the history still shows the write
        race.check()
