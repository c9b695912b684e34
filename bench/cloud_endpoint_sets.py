"""Endpoint-set reconciliation on the cloud backends, sequential vs concurrent, with a
simulated network round trip.

    python -m bench.cloud_endpoint_sets [--n 200] [--latency-ms 20] [--concurrency 8]

Cloud Map: boto3 against moto in server mode behind :mod:`bench.latency_proxy` (each request
delayed). Service Directory: the official client against our emulator with ``latency_ms``. Each
backend writes N endpoints into an empty service, then deletes them all, first with
``concurrency=1`` (the seed's one-at-a-time way) and then with the default bounded pool.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable

from moto.server import ThreadedMotoServer

from bench.latency_proxy import LatencyProxy
from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.cloudmap import CloudMapRegistry
from servregistry.backends.servicedirectory import ServiceDirectoryRegistry
from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator
from servregistry.registry import ServiceRegistry
from tests.fixtures.servers import free_port


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


def run(label: str, make: Callable[[int], ServiceRegistry], n: int, concurrency: int) -> list[str]:
    rows = []
    results = {}
    for workers in (1, concurrency):
        reg = make(workers)
        try:
            results[workers] = reconcile(reg, n)
        finally:
            reg.close()
    (seq_w, seq_d), (con_w, con_d) = results[1], results[concurrency]
    for step, seq, con in (("write", seq_w, con_w), ("remove", seq_d, con_d)):
        rows.append(f"| {label} | {step} {n} | {seq:.2f} s | {con:.2f} s | {seq / con:.1f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "bench")

    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    proxy = LatencyProxy(moto_port, args.latency_ms)
    proxy_port = proxy.start()
    emulator = ServiceDirectoryEmulator(latency_ms=args.latency_ms)
    sd_port = emulator.start()
    rows = [
        f"| backend ({args.latency_ms:g} ms per request) | step | sequential | "
        f"concurrent ({args.concurrency}) | speed-up |",
        "|---|---|---:|---:|---:|",
    ]
    try:
        rows += run(
            "Cloud Map (moto)",
            lambda c: CloudMapRegistry(
                "eu-west-1", endpoint_url=f"http://127.0.0.1:{proxy_port}", concurrency=c
            ),
            args.n,
            args.concurrency,
        )
        rows += run(
            "Service Directory (emulator)",
            lambda c: ServiceDirectoryRegistry(
                "bench", "us-central1", endpoint=f"127.0.0.1:{sd_port}", concurrency=c
            ),
            args.n,
            args.concurrency,
        )
    finally:
        emulator.stop()
        proxy.stop()
        moto.stop()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
