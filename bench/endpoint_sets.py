"""Endpoint-set reconciliation on a real etcd: the seed's algorithm vs ours vs the floor.

    python -m bench.endpoint_sets [--sizes 1000,10000[,100000]] [--repeat 3] [--etcd HOST:PORT]
                                  [--scenarios "from empty,no-op,10% changed,shrink to empty"]
                                  [--ways seed,ours,floor,read]

One table: N x scenario x way. Scenarios, each from a state prepared beforehand (by this
process, with our Broker):

* **from empty**: the service exists with no endpoint; N endpoints are written;
* **no-op**: the N endpoints are stored; the same N are asked for (every ``pulumi up`` that
  changes nothing);
* **10% changed**: the N endpoints are stored; a tenth of them get new metadata;
* **shrink to empty**: the N endpoints are stored; none are asked for.

Ways:

* **seed**: the seed's algorithm: the Broker with the registry's batch path hidden, so it
  reads the endpoints once and writes one guarded transaction per endpoint (the seed's
  ``CreateEndp``/``UpdateEndp``/``DeleteEndp``);
* **ours**: ``Broker.manage_serv_endps`` with the etcd batch path (one paged read, then guarded
  transactions of at most 128 operations, 4 in flight);
* **floor**: what any reconciler must do at least, with bare client calls: one paged range read
  of the endpoint prefix with values, the desired values encoded and compared byte for byte,
  then unguarded puts/deletes of exactly the changed keys in 128-op transactions, one at a time;
* **read** (no-op only): the bare paged range read of the endpoint prefix with values, each
  key and value taken into Python, and nothing else: what a no-op cannot do without.

Each cell runs in a fresh process that imports everything, connects, builds the desired list
(the caller's input) and then runs the reconcile once with a fresh registry object, as the
provider does on every ``pulumi up``. It reports wall time and the process's CPU time (all
threads; on a busy machine the steadier figure), etcd round trips, the peak RSS above that
process's RSS after imports and connecting (``VmHWM - VmRSS``; it includes the caller's input
list, whose own RSS is measured too), the longest garbage-collection pause during the reconcile
(``gc.callbacks``; the CPU time of the collection, so that a busy machine's scheduling is not
counted as collector work), and how long a full collection takes right after it (the work a
reconcile leaves to the collector). Times are medians of ``--repeat`` processes; RSS and GC
pauses are the largest seen. Without ``--etcd`` a private etcd is started on a free loopback port
(Debian's ``etcd-server``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    NS,
    SCENARIOS,
    SERV,
    Result,
    SeedStyle,
    add_table_options,
    assert_converged,
    desired_of,
    endpoints,
    measure_reconcile,
    print_cell,
    run_broker,
    run_cell,
    run_seed,
    subset,
    summary,
    table,
)
from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.etcd import EtcdRegistry, layout

__all__ = ["SCENARIOS", "WAYS", "Counting", "SeedStyle", "endpoints"]

MAX_OPS = 128
WAYS = ("seed", "ours", "floor", "read")


class Counting:
    """Wraps an etcd client and counts its round trips (every request it sends, retries
    included); stands in for the client (``reg._client = Counting(reg.client)``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.calls = 0
        send = client._call

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:  # transactions are sent from several threads
                self.calls += 1
            return send(*args, **kwargs)

        client._call = counted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def prepare(target: str, scenario: str, n: int) -> str:
    """A fresh prefix holding the scenario's starting state; returns the prefix."""
    reg = EtcdRegistry([target], prefix=f"/bench-{uuid.uuid4().hex[:8]}/", timeout=120)
    broker = Broker(reg)
    broker.manage_ns(Namespace(NS))
    broker.manage_serv(Service(SERV, NS))
    if scenario != "from empty":
        failures = broker.manage_serv_endps(NS, SERV, endpoints(n))
        assert not failures, failures
    reg.close()
    return reg.prefix


# the measured cell (a fresh process) ----------------------------------------------------------


def run_floor(reg: EtcdRegistry, desired: list[Endpoint]) -> None:
    """Read once, then write exactly the difference with bare puts in 128-op transactions."""
    client = reg.client
    base = layout.serv_key(reg.prefix, NS, SERV) + "/endpoints/"
    _revision, kvs = client.scan(base)
    current = {kv.key: kv.value for kv in kvs}
    del kvs
    stamp = Broker(reg).stamp
    tx = client.transactions
    ops = []
    for endp in desired:
        key = (base + endp.name).encode()
        value = layout.encode(stamp(endp))
        if current.pop(key, None) != value:
            ops.append(tx.put(key, value))
    ops += [tx.delete(key) for key in current]
    for start in range(0, len(ops), MAX_OPS):
        client.transaction(compare=[], success=ops[start : start + MAX_OPS], failure=[])


def run_read(reg: EtcdRegistry, _desired: list[Endpoint]) -> None:
    """The bare paged range read of the endpoint prefix, keys and values taken into Python."""
    _revision, kvs = reg.client.scan(layout.serv_key(reg.prefix, NS, SERV) + "/endpoints/")
    current = {kv.key: kv.value for kv in kvs}
    assert len(current) == len(kvs)


RUNS: dict[str, Callable[[EtcdRegistry, list[Endpoint]], None]] = {
    "seed": run_seed,
    "ours": run_broker,
    "floor": run_floor,
    "read": run_read,
}


def cell(target: str, prefix: str, way: str, scenario: str, n: int) -> Result:
    """Run one reconcile and measure it (called in a fresh process)."""
    reg = EtcdRegistry([target], prefix=prefix, timeout=600)
    reg.get_serv(NS, SERV)  # connect (and authenticate) before the baseline
    counter = Counting(reg.client)
    reg._client = counter  # bench-only: count the round trips
    result, desired = measure_reconcile(
        lambda: desired_of(scenario, n), lambda desired: RUNS[way](reg, desired)
    )
    result["calls"] = counter.calls
    assert_converged(reg, desired)
    return result


# the table (the parent process) ---------------------------------------------------------------


def measure(
    target: str, way: str, scenario: str, n: int, repeat: int, in_process: bool = False
) -> Result:
    runs = []
    for _ in range(repeat):
        prefix = prepare(target, scenario, n)
        try:
            args = ["--etcd", target, "--cell", json.dumps([prefix, way, scenario, n])]
            runs.append(run_cell("bench.endpoint_sets", args, in_process))
        finally:
            reg = EtcdRegistry([target], prefix=prefix, timeout=120)
            reg.client.delete_prefix(prefix)
            reg.close()
    return summary(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_table_options(parser, WAYS, 3, "1000,10000", "add 100000 for the large row")
    parser.add_argument("--etcd", help="HOST:PORT of a running etcd (default: start one)")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        prefix, way, scenario, n = json.loads(args.cell)
        print_cell(cell(args.etcd, prefix, way, scenario, n))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    scenarios = subset(parser, args.scenarios, SCENARIOS, "scenario")
    ways = subset(parser, args.ways, WAYS, "way")

    def run(target: str) -> str:
        return table(
            sizes,
            scenarios,
            ways,
            lambda way, scenario, n: measure(
                target, way, scenario, n, args.repeat, args.in_process
            ),
        )

    if args.etcd:
        print(run(args.etcd))
        return
    from servregistry.emulators.etcd import EtcdServer

    with tempfile.TemporaryDirectory() as tmp:
        server = EtcdServer(Path(tmp))
        try:
            print(run(server.client_url))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
