"""What the endpoint-set benchmarks share: the scenarios and their endpoints, the seed's
algorithm, one measured reconcile in a fresh process, and the table.

Each benchmark module (``bench.endpoint_sets`` on etcd, ``bench.sqlite_endpoint_sets``,
``bench.cloud_endpoint_sets``) prepares a scenario's starting state in its parent process, runs
each cell in a fresh process (``run_cell``) that measures one reconcile (``measure_reconcile``),
and prints one table (``table``): N x scenario x way.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from servregistry import Broker, Endpoint

SCENARIOS = ("from empty", "no-op", "10% changed", "shrink to empty")
NS, SERV = "bench", "web"

_T = TypeVar("_T")
Result = dict[str, Any]


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


def endpoints(n: int, changed: int = 0, serv: str = SERV, start: int = 0) -> list[Endpoint]:
    """N endpoints of ``serv`` (numbered from ``start``); the first ``changed`` carry
    different metadata."""
    return [
        Endpoint(
            f"web-{i:06d}",
            NS,
            serv,
            f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            8080,
            {"zone": f"z{i % 3}", "version": "v2" if i - start < changed else "v1"},
        )
        for i in range(start, start + n)
    ]


def desired_of(scenario: str, n: int, serv: str = SERV, start: int = 0) -> list[Endpoint]:
    """What the scenario asks for (its starting state is ``endpoints(n)``, or nothing for
    "from empty")."""
    if scenario == "shrink to empty":
        return []
    changed = n // 10 if scenario == "10% changed" else 0
    return endpoints(n, changed=changed, serv=serv, start=start)


def run_broker(reg: Any, desired: list[Endpoint], serv: str = SERV) -> None:
    """``Broker.manage_serv_endps``; any per-endpoint failure fails the cell."""
    failures = Broker(reg).manage_serv_endps(NS, serv, desired)
    assert not failures, failures


def run_seed(reg: Any, desired: list[Endpoint], serv: str = SERV) -> None:
    """The seed's algorithm: the Broker with the batch path hidden."""
    run_broker(SeedStyle(reg), desired, serv)


def assert_converged(reg: Any, desired: list[Endpoint], serv: str = SERV) -> None:
    """The registry holds exactly the desired endpoints of ``serv`` (names and versions)."""
    stored = {e.name: e.metadata.get("version") for e in reg.list_endp(NS, serv)}
    assert stored == {e.name: e.metadata.get("version") for e in desired}, "reconcile diverged"


def stamper(reg: Any) -> Callable[[Endpoint], Endpoint]:
    """What the floors write: each endpoint as the Broker writes it (with the owner pair)."""
    stamp = Broker(reg).stamp

    def stamped(endp: Endpoint) -> Endpoint:
        written = stamp(endp)
        assert isinstance(written, Endpoint)
        return written

    return stamped


# the measured cell (a fresh process) ----------------------------------------------------------


def status(field: str) -> int:
    """A ``/proc/self/status`` field in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_reconcile(
    make_input: Callable[[], _T], reconcile: Callable[[_T], object]
) -> tuple[Result, _T]:
    """Build the caller's input, run one reconcile on it, and measure: wall and CPU time (all
    threads), the peak RSS above the RSS before the input was built (``VmHWM - VmRSS``; it
    includes the input, whose own RSS is ``input_kib``), the garbage-collection pauses during
    the reconcile (the collector's CPU time, so that a busy machine's scheduling is not counted
    as collector work) and what a full collection right after it costs. Call it once the
    process has imported everything and connected. Returns the figures and the input."""
    gc.collect()
    rss_before = status("VmRSS")
    desired = make_input()
    input_kib = status("VmRSS") - rss_before
    pauses: list[float] = []
    started_gc: list[float] = []

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            started_gc.append(time.thread_time())
        elif started_gc:
            pauses.append(time.thread_time() - started_gc.pop())

    gc.callbacks.append(on_gc)
    started, cpu_started = time.perf_counter(), time.process_time()
    reconcile(desired)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    gc.callbacks.remove(on_gc)
    peak = status("VmHWM") - rss_before
    collected = time.thread_time()
    gc.collect()
    full_after = time.thread_time() - collected
    result = {
        "seconds": seconds,
        "cpu": cpu,
        "peak_kib": peak,
        "input_kib": input_kib,
        "gc_max": max(pauses, default=0.0),
        "gc_total": sum(pauses),
        "gc_after": full_after,
    }
    return result, desired


def print_cell(result: Result) -> None:
    """A cell's figures, as the last line of its output (``run_cell`` reads it)."""
    print(json.dumps(result), flush=True)


# the table (the parent process) ---------------------------------------------------------------


def run_cell(module: str, args: Sequence[str], in_process: bool = False) -> Result:
    """Run ``python -m module ARGS`` (one cell) and return the figures it printed last; with
    ``in_process``, call the module's ``main(ARGS)`` in this process instead (quick, for tests:
    the times then include a warm process and the RSS figures mean little)."""
    if in_process:
        out = io.StringIO()
        gc.freeze()  # what is already here is no cell's: keep the cell's full collections short
        try:
            with contextlib.redirect_stdout(out):
                importlib.import_module(module).main(list(args))
        finally:
            gc.unfreeze()
        return dict(json.loads(out.getvalue().strip().splitlines()[-1]))
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"benchmark cell {module} {' '.join(args)} failed ({done.returncode}):\n"
            + done.stderr[-4000:]
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def summary(runs: Sequence[Result]) -> Result:
    """Several runs of one cell: times are medians, RSS and GC pauses the largest seen."""
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "calls": runs[0]["calls"],
        "peak_kib": max(r["peak_kib"] for r in runs),
        "input_kib": min(r["input_kib"] for r in runs),
        "gc_max": max(r["gc_max"] for r in runs),
        "gc_after": max(r["gc_after"] for r in runs),
    }


def cell_text(result: Result | None, unit: str = "RT") -> str:
    if result is None:
        return "not run"
    return (
        f"{ms(result['seconds'])}, CPU {ms(result['cpu'])} ({result['calls']} {unit}, "
        f"{result['peak_kib'] / 1024:.0f} MiB, GC ≤{result['gc_max'] * 1000:.1f} ms)"
    )


def ratio(a: Result | None, b: Result | None) -> str:
    """Wall time and CPU time of ``a`` over ``b``."""
    if a is None or b is None:
        return "n/a"
    return f"{a['seconds'] / b['seconds']:.2f}x (CPU {a['cpu'] / b['cpu']:.2f}x)"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def speedup(seed: Result | None, ours: Result | None) -> str:
    return "n/a" if seed is None or ours is None else f"{seed['seconds'] / ours['seconds']:.1f}x"


def memory(ours: Result | None, n: int) -> str:
    """Peak RSS per endpoint, and beyond the caller's input list."""
    if ours is None:
        return "n/a"
    per_endpoint = ours["peak_kib"] * 1024 / max(n, 1)
    beyond = (ours["peak_kib"] - ours["input_kib"]) * 1024 / max(n, 1)
    return f"{per_endpoint:,.0f} B ({beyond:,.0f} B)"


def gc_after(ours: Result | None) -> str:
    return "n/a" if ours is None else f"{ours['gc_after'] * 1000:.0f} ms"


def table(
    sizes: Sequence[int],
    scenarios: Sequence[str],
    ways: Sequence[str],
    measure: Callable[[str, str, int], Result | None],
    unit: str = "RT",
) -> str:
    """One row per N x scenario: the seed's algorithm, ours and the floor, their ratios, and,
    when ``ways`` has ``read``, ours over the bare read (no-op only). ``measure(way, scenario,
    n)`` returns a cell's figures, or None for a cell not run. Each row is also printed to
    stderr as soon as it is measured."""
    rows = [
        "| N | scenario | seed's algorithm | ours | floor | seed / ours | ours / floor "
        "| ours / bare read | ours: RSS per endpoint (beyond the input) | full GC after |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        for scenario in scenarios:
            run = [w for w in ways if w != "read" or scenario == "no-op"]
            res = {way: measure(way, scenario, n) for way in run}
            seed, ours, floor = (res.get(way) for way in ("seed", "ours", "floor"))
            rows.append(
                f"| {n:,} | {scenario} | {cell_text(seed, unit)} | {cell_text(ours, unit)} "
                f"| {cell_text(floor, unit)} | {speedup(seed, ours)} | {ratio(ours, floor)} "
                f"| {ratio(ours, res.get('read'))} | {memory(ours, n)} | {gc_after(ours)} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def subset(
    parser: argparse.ArgumentParser, text: str, known: Sequence[str], what: str
) -> list[str]:
    """A comma-separated subset of ``known``; an unknown item is a usage error naming it."""
    items = text.split(",")
    unknown = sorted(set(items) - set(known))
    if unknown:
        parser.error(f"unknown {what}(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return items


def add_table_options(
    parser: argparse.ArgumentParser,
    ways: Sequence[str],
    repeat: int,
    sizes: str | None = None,
    sizes_help: str = "comma-separated N",
) -> None:
    """``--repeat``, ``--scenarios``, ``--ways`` and, given a default, ``--sizes``, as every
    benchmark has them."""
    if sizes is not None:
        parser.add_argument("--sizes", default=sizes, help=sizes_help)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run each cell in this process (quick, for tests; the figures then mean little)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="a comma-separated subset of: %(default)s",
    )
    parser.add_argument(
        "--ways",
        default=",".join(ways),
        help="a comma-separated subset of: %(default)s",
    )
