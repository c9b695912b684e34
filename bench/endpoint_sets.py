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
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.etcd import EtcdRegistry, layout

MAX_OPS = 128
SCENARIOS = ("from empty", "no-op", "10% changed", "shrink to empty")
WAYS = ("seed", "ours", "floor", "read")
NS, SERV = "bench", "web"


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


class SeedStyle:
    """A registry with its fast paths hidden: the Broker falls back to the seed's algorithm,
    a full listing decoded, then one endpoint at a time through the per-object methods (on
    etcd, one guarded transaction per endpoint)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("apply_endpoint_changes", "list_endp_unchanged"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def endpoints(n: int, changed: int = 0) -> list[Endpoint]:
    """N endpoints; the first ``changed`` carry different metadata."""
    return [
        Endpoint(
            f"web-{i:06d}",
            NS,
            SERV,
            f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            8080,
            {"zone": f"z{i % 3}", "version": "v2" if i < changed else "v1"},
        )
        for i in range(n)
    ]


def desired_of(scenario: str, n: int) -> list[Endpoint]:
    if scenario == "shrink to empty":
        return []
    return endpoints(n, changed=n // 10 if scenario == "10% changed" else 0)


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


def run_broker(reg: Any, desired: list[Endpoint]) -> None:
    failures = Broker(reg).manage_serv_endps(NS, SERV, desired)
    assert not failures, failures


def run_seed(reg: EtcdRegistry, desired: list[Endpoint]) -> None:
    run_broker(SeedStyle(reg), desired)


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


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def cell(target: str, prefix: str, way: str, scenario: str, n: int) -> dict[str, Any]:
    """Run one reconcile and measure it (called in a fresh process)."""
    reg = EtcdRegistry([target], prefix=prefix, timeout=600)
    reg.get_serv(NS, SERV)  # connect (and authenticate) before the baseline
    gc.collect()
    rss_after_imports = _status("VmRSS")
    counter = Counting(reg.client)
    reg._client = counter  # bench-only: count the round trips
    desired = desired_of(scenario, n)
    input_kib = _status("VmRSS") - rss_after_imports
    pauses: list[float] = []
    started_gc: list[float] = []

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            started_gc.append(time.thread_time())
        elif started_gc:
            pauses.append(time.thread_time() - started_gc.pop())

    gc.callbacks.append(on_gc)
    started, cpu_started = time.perf_counter(), time.process_time()
    RUNS[way](reg, desired)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    gc.callbacks.remove(on_gc)
    peak = _status("VmHWM") - rss_after_imports
    calls = counter.calls
    collected = time.thread_time()
    gc.collect()
    full_after = time.thread_time() - collected
    stored = {e.name: e.metadata.get("version") for e in reg.list_endp(NS, SERV)}
    assert stored == {e.name: e.metadata.get("version") for e in desired}, "reconcile diverged"
    return {
        "seconds": seconds,
        "cpu": cpu,
        "calls": calls,
        "peak_kib": peak,
        "input_kib": input_kib,
        "gc_max": max(pauses, default=0.0),
        "gc_total": sum(pauses),
        "gc_after": full_after,
    }


# the table (the parent process) ---------------------------------------------------------------


def measure(target: str, way: str, scenario: str, n: int, repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        prefix = prepare(target, scenario, n)
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.endpoint_sets",
                    "--etcd",
                    target,
                    "--cell",
                    json.dumps([prefix, way, scenario, n]),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            reg = EtcdRegistry([target], prefix=prefix, timeout=120)
            reg.client.delete_prefix(prefix)
            reg.close()
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "calls": runs[0]["calls"],
        "peak_kib": max(r["peak_kib"] for r in runs),
        "input_kib": min(r["input_kib"] for r in runs),
        "gc_max": max(r["gc_max"] for r in runs),
        "gc_after": max(r["gc_after"] for r in runs),
    }


def _cell_text(result: dict[str, Any] | None) -> str:
    if result is None:
        return "not run"
    return (
        f"{_ms(result['seconds'])}, CPU {_ms(result['cpu'])} ({result['calls']} RT, "
        f"{result['peak_kib'] / 1024:.0f} MiB, GC ≤{result['gc_max'] * 1000:.1f} ms)"
    )


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """Wall time and CPU time of ``a`` over ``b``."""
    if a is None or b is None:
        return "n/a"
    return f"{a['seconds'] / b['seconds']:.2f}x (CPU {a['cpu'] / b['cpu']:.2f}x)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def table(target: str, sizes: list[int], repeat: int, scenarios: list[str], ways: list[str]) -> str:
    rows = [
        "| N | scenario | seed's algorithm | ours | floor | seed / ours | ours / floor "
        "| ours / bare read | ours: RSS per endpoint (beyond the input) | full GC after |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        for scenario in scenarios:
            run = [w for w in ways if w != "read" or scenario == "no-op"]
            res = {way: measure(target, way, scenario, n, repeat) for way in run}
            seed, ours, floor = (res.get(way) for way in ("seed", "ours", "floor"))
            rows.append(
                f"| {n:,} | {scenario} | {_cell_text(seed)} | {_cell_text(ours)} "
                f"| {_cell_text(floor)} | {_speedup(seed, ours)} | {_ratio(ours, floor)} "
                f"| {_ratio(ours, res.get('read'))} | {_memory(ours, n)} | {_gc_after(ours)} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def _speedup(seed: dict[str, Any] | None, ours: dict[str, Any] | None) -> str:
    return "n/a" if seed is None or ours is None else f"{seed['seconds'] / ours['seconds']:.1f}x"


def _memory(ours: dict[str, Any] | None, n: int) -> str:
    if ours is None:
        return "n/a"
    per_endpoint = ours["peak_kib"] * 1024 / max(n, 1)
    beyond = (ours["peak_kib"] - ours["input_kib"]) * 1024 / max(n, 1)
    return f"{per_endpoint:,.0f} B ({beyond:,.0f} B)"


def _gc_after(ours: dict[str, Any] | None) -> str:
    return "n/a" if ours is None else f"{ours['gc_after'] * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="add 100000 for the large row")
    parser.add_argument("--etcd", help="HOST:PORT of a running etcd (default: start one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="a comma-separated subset of: %(default)s",
    )
    parser.add_argument(
        "--ways",
        default=",".join(WAYS),
        help="a comma-separated subset of: %(default)s",
    )
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        prefix, way, scenario, n = json.loads(args.cell)
        print(json.dumps(cell(args.etcd, prefix, way, scenario, n)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    scenarios = args.scenarios.split(",")
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    ways = args.ways.split(",")
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        parser.error(f"unknown way(s) {', '.join(unknown)}; known: {', '.join(WAYS)}")
    if args.etcd:
        print(table(args.etcd, sizes, args.repeat, scenarios, ways))
        return
    from servregistry.emulators.etcd import EtcdServer

    with tempfile.TemporaryDirectory() as tmp:
        server = EtcdServer(Path(tmp))
        try:
            print(table(server.client_url, sizes, args.repeat, scenarios, ways))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
