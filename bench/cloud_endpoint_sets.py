"""Endpoint-set reconciliation on the cloud backends, sequential vs concurrent, with a
simulated network round trip.

    python -m bench.cloud_endpoint_sets [--n 200] [--latency-ms 20] [--concurrency 8]
                                        [--operation-ms 0]

Cloud Map: boto3 against moto in server mode behind :mod:`bench.latency_proxy` (each request
delayed); with ``--operation-ms``, instance operations report PENDING for that long after
they start, as real ones do for a while. Service Directory: the official client against our
emulator with ``latency_ms``. Each backend writes N endpoints into an empty service, then
deletes them all, first the seed's way (the Broker without the batch path: one endpoint at a
time, each operation awaited) and then ours (a bounded pool; on Cloud Map every write started
before the operations are awaited together).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from typing import Any

from bench.endpoint_sets import SeedStyle
from bench.latency_proxy import LatencyProxy
from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.cloudmap import CloudMapRegistry
from servregistry.backends.servicedirectory import ServiceDirectoryRegistry
from servregistry.emulators.cloudmap import MotoServer
from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator
from servregistry.registry import ServiceRegistry


def endpoints(n: int) -> list[Endpoint]:
    return [
        Endpoint(f"e{i:04d}", "bench", "web", f"10.0.{i // 256}.{i % 256}", 80) for i in range(n)
    ]


def reconcile(reg: ServiceRegistry, n: int) -> tuple[float, float]:
    """Seconds to write N endpoints into an empty service, then to remove them."""
    broker = Broker(reg)
    broker.manage_ns(Namespace("bench"))
    broker.manage_serv(Service("web", "bench"))
    started = time.perf_counter()
    assert broker.manage_serv_endps("bench", "web", endpoints(n)) == {}
    written = time.perf_counter() - started
    started = time.perf_counter()
    assert broker.manage_serv_endps("bench", "web", []) == {}
    removed = time.perf_counter() - started
    broker.remove_ns("bench", force_not_empty=True)
    return written, removed


def run(label: str, make: Callable[[], ServiceRegistry], n: int) -> list[str]:
    """Rows comparing the seed's algorithm (the Broker without the batch path: one endpoint at
    a time through the per-object methods, each operation awaited before the next) with ours."""
    results = {}
    for way in ("seed", "ours"):
        reg = make()
        try:
            results[way] = reconcile(SeedStyle(reg) if way == "seed" else reg, n)
        finally:
            reg.close()
    rows = []
    for step, seed, ours in zip(("write", "remove"), results["seed"], results["ours"], strict=True):
        rows.append(f"| {label} | {step} {n} | {seed:.2f} s | {ours:.2f} s | {seed / ours:.1f}x |")
    return rows


def slow_operations(seconds: float) -> None:
    """Make moto's instance operations PENDING for ``seconds`` after they start."""
    from moto.servicediscovery import models

    original = models.ServiceDiscoveryBackend.get_operation

    def get_operation(self: Any, operation_id: str) -> Any:
        operation = original(self, operation_id)
        if operation.operation_type.endswith("_INSTANCE"):
            done = time.time() - operation.created >= seconds
            operation.status = "SUCCESS" if done else "PENDING"
        return operation

    models.ServiceDiscoveryBackend.get_operation = get_operation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--operation-ms", type=float, default=0.0)
    parser.add_argument("--skip-servicedirectory", action="store_true")
    args = parser.parse_args()
    if args.operation_ms:
        slow_operations(args.operation_ms / 1000)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    moto = MotoServer()  # AWS-faithful, as the tests and the example commands run it
    proxy = LatencyProxy(moto.port, args.latency_ms)
    proxy_port = proxy.start()
    emulator = ServiceDirectoryEmulator(latency_ms=args.latency_ms)
    sd_port = emulator.start()
    rows = [
        f"| backend ({args.latency_ms:g} ms per request"
        + (f", {args.operation_ms:g} ms per operation" if args.operation_ms else "")
        + ") | step | seed (one at a time) | "
        f"ours (concurrency {args.concurrency}) | speed-up |",
        "|---|---|---:|---:|---:|",
    ]
    try:
        rows += run(
            "Cloud Map (moto)",
            lambda: CloudMapRegistry(
                "eu-west-1",
                endpoint_url=f"http://127.0.0.1:{proxy_port}",
                concurrency=args.concurrency,
            ),
            args.n,
        )
        if not args.skip_servicedirectory:
            rows += run(
                "Service Directory (emulator)",
                lambda: ServiceDirectoryRegistry(
                    "bench",
                    "us-central1",
                    endpoint=f"127.0.0.1:{sd_port}",
                    concurrency=args.concurrency,
                ),
                args.n,
            )
    finally:
        emulator.stop()
        proxy.stop()
        moto.stop()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
