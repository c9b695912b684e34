"""Endpoint-set reconciliation on a real etcd: ours vs the seed's algorithm vs the floor.

    python -m bench.endpoint_sets [--sizes 100,1000,10000] [--etcd HOST:PORT]

For each N, three scenarios on a fresh prefix: the set written from empty, then 1% of the
endpoints changed (new port), then the same set again (no-op). Three ways, in one process
against one etcd, so the ratios are comparable:

* **ours**: ``Broker.manage_serv_endps`` with the etcd batch path (one range read, then guarded
  transactions of at most 128 operations, up to 4 in flight while the next is built);
* **seed**: the same Broker with the batch path hidden, i.e. the seed's algorithm: one range
  read, then one guarded transaction per endpoint;
* **floor**: what any correct reconciler must do at least, with bare ``etcd3`` calls: one range
  read, then unguarded puts/deletes of exactly the changed keys in 128-op transactions.

Each cell is wall time (best of ``--repeat`` runs) and round trips (etcd calls). Without
``--etcd`` a private etcd is started on a free loopback port (Debian's ``etcd-server``).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends import etcd_layout as layout
from servregistry.backends.etcd import EtcdRegistry

MAX_OPS = 128
COUNTED = ("get", "get_prefix", "transaction", "put", "delete")


class Counting:
    """Wraps an etcd3 client and counts the calls that are round trips."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in COUNTED:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:  # transactions are sent from several threads
                self.calls += 1
            result = attr(*args, **kwargs)
            return list(result) if name == "get_prefix" else result

        return counted


class SeedStyle:
    """A registry with its batch path hidden: the Broker falls back to the seed's algorithm,
    one endpoint at a time through the per-object methods (on etcd, one guarded transaction
    per endpoint)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "apply_endpoint_changes":
            raise AttributeError(name)
        return getattr(self._inner, name)


def endpoints(n: int, changed: int = 0) -> list[Endpoint]:
    return [
        Endpoint(
            f"web-{i:05d}",
            "bench",
            "web",
            f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            9000 if i < changed else 8080,
            {"zone": f"z{i % 3}"},
        )
        for i in range(n)
    ]


def counting_registry(target: str) -> tuple[EtcdRegistry, Counting]:
    reg = EtcdRegistry([target], prefix=f"/bench-{uuid.uuid4().hex[:8]}/", timeout=60)
    counter = Counting(reg.client)
    reg._client = counter  # bench-only: count the round trips the backend makes
    broker = Broker(reg)
    broker.manage_ns(Namespace("bench"))
    broker.manage_serv(Service("web", "bench"))
    counter.calls = 0
    return reg, counter


def run_broker(reg: Any, desired: list[Endpoint]) -> None:
    failures = Broker(reg).manage_serv_endps("bench", "web", desired)
    assert not failures, failures


def run_floor(reg: EtcdRegistry, desired: list[Endpoint]) -> None:
    """Read once, then write exactly the difference with bare puts in 128-op transactions."""
    client = reg.client
    base = layout.serv_key(reg.prefix, "bench", "web") + "/endpoints/"
    current = {meta.key.decode(): value for value, meta in client.get_prefix(base)}
    owner = {"owner": "cnwan-operator"}
    wanted = {
        base + e.name: layout.encode(e.model_copy(update={"metadata": {**e.metadata, **owner}}))
        for e in desired
    }
    tx = client.transactions
    ops = [tx.put(k, v) for k, v in wanted.items() if current.get(k) != v]
    ops += [tx.delete(k) for k in current if k not in wanted]
    for start in range(0, len(ops), MAX_OPS):
        client.transaction(compare=[], success=ops[start : start + MAX_OPS], failure=[])


def measure(
    target: str, n: int, way: Callable[[Any, list[Endpoint]], None], seed: bool, repeat: int
) -> dict[str, tuple[float, int]]:
    """Wall time (best of ``repeat``) and round trips of the three scenarios."""
    results: dict[str, list[tuple[float, int]]] = {"empty": [], "1% changed": [], "no-op": []}
    for _ in range(repeat):
        reg, counter = counting_registry(target)
        handle: Any = SeedStyle(reg) if seed else reg
        steps = [
            ("empty", endpoints(n)),
            ("1% changed", endpoints(n, changed=max(1, n // 100))),
            ("no-op", endpoints(n, changed=max(1, n // 100))),
        ]
        for label, desired in steps:
            counter.calls = 0
            started = time.perf_counter()
            way(handle, desired)
            results[label].append((time.perf_counter() - started, counter.calls))
        _verify(reg, steps[-1][1])
        reg.client.delete_prefix(reg.prefix)
        reg.close()
    return {label: min(runs) for label, runs in results.items()}


def _verify(reg: EtcdRegistry, desired: list[Endpoint]) -> None:
    stored = {e.name: (e.address, e.port) for e in reg.list_endp("bench", "web")}
    assert stored == {e.name: (e.address, e.port) for e in desired}, "reconcile diverged"


def table(target: str, sizes: list[int], repeat: int) -> str:
    rows = [
        "| N | scenario | ours | seed (1 txn/endpoint) | floor (bare 128-op txns) "
        "| seed / ours | ours / floor |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for seed, way in ((False, run_broker), (True, run_broker), (False, run_floor)):
        measure(target, 50, way, seed=seed, repeat=1)  # warm-up: imports, caches, connections
    for n in sizes:
        ours = measure(target, n, run_broker, seed=False, repeat=repeat)
        seed = measure(target, n, run_broker, seed=True, repeat=repeat)
        floor = measure(target, n, run_floor, seed=False, repeat=repeat)
        for label in ours:
            (t_o, rt_o), (t_s, rt_s), (t_f, rt_f) = ours[label], seed[label], floor[label]
            rows.append(
                f"| {n:,} | {label} | {t_o * 1000:.0f} ms ({rt_o} RT) "
                f"| {t_s * 1000:.0f} ms ({rt_s} RT) | {t_f * 1000:.0f} ms ({rt_f} RT) "
                f"| {t_s / t_o:.1f}x | {t_o / t_f:.2f}x |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--etcd", help="HOST:PORT of a running etcd (default: start one)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.etcd:
        print(table(args.etcd, sizes, args.repeat))
        return
    from tests.fixtures.etcd import EtcdServer

    with tempfile.TemporaryDirectory() as tmp:
        server = EtcdServer(Path(tmp))
        try:
            print(table(server.client_url, sizes, args.repeat))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
