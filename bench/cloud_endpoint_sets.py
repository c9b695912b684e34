"""Endpoint-set reconciliation on the cloud backends at 10,000 endpoints, with a simulated
network round trip: the seed's algorithm vs ours vs the floor.

    python -m bench.cloud_endpoint_sets [--n 10000] [--small-n 500] [--latency-ms 10]
                                        [--concurrency 8] [--operation-ms 0]
                                        [--backends cloudmap,servicedirectory]
                                        [--scenarios "from empty,no-op,..."]
                                        [--ways seed,ours,floor] [--repeat 1]

**Cloud Map**: boto3 against moto in server mode (AWS-faithful, ``MotoServer``) behind
:mod:`bench.latency_proxy` (each request delayed by ``--latency-ms``); with ``--operation-ms``,
instance operations stay PENDING that long after they start, as real ones do for a while.
Cloud Map allows at most 1,000 instances per service (our backend refuses more before writing),
so N endpoints are ``ceil(N / 1000)`` services of at most 1,000, reconciled one service after
the other in one process. **Service Directory**: the official client against our emulator with
``latency_ms``; N endpoints are one service.

Scenarios as on etcd (from empty, no-op, 10% changed, shrink to empty). Ways:

* **seed**: the Broker with the batch path hidden: one endpoint at a time, each request (and on
  Cloud Map each operation) awaited before the next;
* **ours**: ``Broker.manage_serv_endps`` with the backend's batch path (``--concurrency``
  requests in flight; on Cloud Map every write started before the operations are awaited
  together);
* **floor**: bare client calls with the same concurrency: list the instances (endpoints), encode
  the desired ones as stored and compare, then send exactly the changed writes, no guard (on
  Cloud Map, then poll each operation until it is done).

Ours runs at ``--n`` and at ``--small-n``; the seed's algorithm and the floor run at ``--small-n``
only, and the table says "not run" at ``--n``: the seed sends one request after the other (at
10 ms a request, 10,000 endpoints are minutes per cell), and the floor, which sends the same
requests as ours, is bound by the same server (moto spends a few milliseconds of CPU on each
request, so 10,000 endpoints are minutes of moto's time per cell whoever sends them).
Each cell is a fresh process (as a ``pulumi up`` is) and reports wall and CPU time, the requests
the client sent (``req``: each HTTP request of boto3, each gRPC call of the Service Directory
client, retries included) and the peak RSS above the RSS after imports and
connecting. One run per cell (``--repeat`` for medians). The servers run in the parent process,
so their CPU is not in a cell's CPU time. Every scenario's starting state is made beforehand
by the parent with our Broker, without latency; cells run way by way in the scenarios' order,
so each one usually leaves the next one's starting state.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from bench.common import (
    NS,
    SCENARIOS,
    Result,
    add_table_options,
    assert_converged,
    cell_text,
    desired_of,
    measure_reconcile,
    print_cell,
    run_broker,
    run_cell,
    run_seed,
    stamper,
    subset,
    summary,
    table,
)
from bench.latency_proxy import LatencyProxy
from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.registry import ServiceRegistry

WAYS = ("seed", "ours", "floor")
BACKENDS = ("cloudmap", "servicedirectory")
LABELS = {"cloudmap": "Cloud Map (moto)", "servicedirectory": "Service Directory (emulator)"}
REGION = "eu-west-1"
SD_PROJECT, SD_REGION = "bench", "us-central1"
#: Cloud Map's quota of instances per service
PER_SERVICE = {"cloudmap": 1000, "servicedirectory": 10**9}


def layout(backend: str, n: int) -> list[tuple[str, int, int]]:
    """The services that hold N endpoints: (service name, first endpoint number, count)."""
    per = PER_SERVICE[backend]
    count = max(1, math.ceil(n / per))
    return [(f"web-{i:02d}", i * per, min(per, n - i * per)) for i in range(count)]


def desired(backend: str, scenario: str, n: int) -> dict[str, list[Endpoint]]:
    return {
        serv: desired_of(scenario, size, serv=serv, start=start)
        for serv, start, size in layout(backend, n)
    }


def open_backend(backend: str, port: int, concurrency: int) -> Any:
    if backend == "cloudmap":
        from servregistry.backends.cloudmap import CloudMapRegistry

        return CloudMapRegistry(
            REGION, endpoint_url=f"http://127.0.0.1:{port}", concurrency=concurrency
        )
    from servregistry.backends.servicedirectory import ServiceDirectoryRegistry

    return ServiceDirectoryRegistry(
        SD_PROJECT, SD_REGION, endpoint=f"127.0.0.1:{port}", concurrency=concurrency, timeout=120
    )


# the floor: bare client calls -------------------------------------------------------------------


def cloudmap_floor(reg: Any, wanted: dict[str, list[Endpoint]], concurrency: int) -> None:
    """Per service: list its instances, then register and deregister exactly the changed ones
    (``concurrency`` at a time), then poll every operation until it is done."""
    from servregistry.backends.cloudmap import rules

    client = reg.client
    (ns,) = client.list_namespaces(Filters=[{"Name": "NAME", "Values": [NS]}])["Namespaces"]
    filters = [{"Name": "NAMESPACE_ID", "Values": [ns["Id"]]}]
    ids = {s["Name"]: s["Id"] for s in _pages(client.list_services, "Services", Filters=filters)}
    stamp = stamper(reg)
    for serv, endps in wanted.items():
        serv_id = ids[serv]
        listed = _pages(client.list_instances, "Instances", ServiceId=serv_id)
        current = {i["Id"]: i.get("Attributes", {}) for i in listed}
        writes: list[Callable[[], Any]] = []
        for endp in endps:
            attributes = rules.attributes(stamp(endp))
            if current.pop(endp.name, None) != attributes:
                writes.append(
                    partial(
                        client.register_instance,
                        ServiceId=serv_id,
                        InstanceId=endp.name,
                        Attributes=attributes,
                    )
                )
        writes += [
            partial(client.deregister_instance, ServiceId=serv_id, InstanceId=name)
            for name in current
        ]
        with ThreadPoolExecutor(concurrency) as pool:
            pending = [op["OperationId"] for op in pool.map(_call, writes)]
            while pending:
                polls = [partial(client.get_operation, OperationId=op) for op in pending]
                done = [p["Operation"]["Status"] == "SUCCESS" for p in pool.map(_call, polls)]
                pending = [op for op, ok in zip(pending, done, strict=True) if not ok]
                if pending:
                    time.sleep(0.05)


def _call(write: Callable[[], Any]) -> Any:
    return write()


def _pages(call: Callable[..., Any], key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = call(**kwargs)
        yield from page.get(key, [])
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def servicedirectory_floor(reg: Any, wanted: dict[str, list[Endpoint]], concurrency: int) -> None:
    """Per service: list its endpoints (pages of 1,000), then create, update and delete exactly
    the changed ones, ``concurrency`` at a time."""
    from google.cloud import servicedirectory_v1 as sd
    from google.protobuf import field_mask_pb2

    client = reg.client
    stamp = stamper(reg)
    mask = field_mask_pb2.FieldMask(paths=["address", "port", "annotations"])
    for serv, endps in wanted.items():
        parent = f"projects/{SD_PROJECT}/locations/{SD_REGION}/namespaces/{NS}/services/{serv}"
        listed = client.list_endpoints(request={"parent": parent, "page_size": 1000})
        current = {e.name: (e.address, e.port, dict(e.annotations)) for e in listed}
        writes: list[Callable[[], Any]] = []
        for endp in endps:
            stamped = stamp(endp)
            name = f"{parent}/endpoints/{endp.name}"
            found = current.pop(name, None)
            if found == (stamped.address, stamped.port, stamped.metadata):
                continue
            message = sd.Endpoint(
                name=name, address=stamped.address, port=stamped.port, annotations=stamped.metadata
            )
            if found is None:
                writes.append(
                    partial(
                        client.create_endpoint,
                        parent=parent,
                        endpoint_id=endp.name,
                        endpoint=message,
                    )
                )
            else:
                writes.append(partial(client.update_endpoint, endpoint=message, update_mask=mask))
        writes += [partial(client.delete_endpoint, name=name) for name in current]
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(_call, writes))


FLOORS = {"cloudmap": cloudmap_floor, "servicedirectory": servicedirectory_floor}


# the measured cell (a fresh process) ----------------------------------------------------------


class Requests:
    """Counts the requests a registry's client sends (retries included)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def count(self, *_args: Any, **_kwargs: Any) -> None:
        with self._lock:  # sent from the backend's pool
            self.calls += 1


def count_requests(backend: str, reg: Any, port: int) -> Requests:
    """Count every request ``reg`` sends from now on (bench-only: on Service Directory, the
    registry's client is replaced by one on an intercepted channel)."""
    requests = Requests()
    if backend == "cloudmap":
        reg.client.meta.events.register("before-send.servicediscovery", requests.count)
        return requests
    import grpc
    from google.cloud import servicedirectory_v1 as sd
    from google.cloud.servicedirectory_v1.services.registration_service.transports import (
        RegistrationServiceGrpcTransport,
    )

    class Counted(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            requests.count()
            return continuation(details, request)

    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), Counted())
    reg._channel = channel
    reg._client = sd.RegistrationServiceClient(
        transport=RegistrationServiceGrpcTransport(channel=channel)
    )
    return requests


def cell(backend: str, port: int, concurrency: int, way: str, scenario: str, n: int) -> Result:
    """Run one reconcile of every service of the layout and measure it (a fresh process)."""
    reg = open_backend(backend, port, concurrency)
    first = layout(backend, n)[0][0]
    requests = count_requests(backend, reg, port)
    reg.get_serv(NS, first)  # connect before the baseline
    requests.calls = 0

    def reconcile(wanted: dict[str, list[Endpoint]]) -> None:
        if way == "floor":
            FLOORS[backend](reg, wanted, concurrency)
            return
        for serv, endps in wanted.items():
            (run_seed if way == "seed" else run_broker)(reg, endps, serv)

    result, wanted = measure_reconcile(lambda: desired(backend, scenario, n), reconcile)
    result["calls"] = requests.calls
    for serv, endps in wanted.items():
        assert_converged(reg, endps, serv)
    reg.close()
    return result


# the table (the parent process) ---------------------------------------------------------------


class Servers:
    """moto behind the latency proxy, and the Service Directory emulator, in this process."""

    def __init__(self, latency_ms: float) -> None:
        from servregistry.emulators.cloudmap import MotoServer
        from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        self.latency_ms = latency_ms
        self.moto = MotoServer()  # AWS-faithful, as the tests and the example commands run it
        self.proxy = LatencyProxy(self.moto.port, latency_ms)
        self.proxy_port = self.proxy.start()
        self.emulator = ServiceDirectoryEmulator(latency_ms=latency_ms)
        self.emulator_port = self.emulator.start()

    def port(self, backend: str) -> int:
        """Where cells connect: through the latency."""
        return self.proxy_port if backend == "cloudmap" else self.emulator_port

    @contextmanager
    def without_latency(self, backend: str) -> Iterator[int]:
        """The port to prepare a state on, quickly: moto itself, the emulator without its delay."""
        if backend == "cloudmap":
            yield self.moto.port
            return
        self.emulator.latency_ms = 0
        try:
            yield self.emulator_port
        finally:
            self.emulator.latency_ms = self.latency_ms

    def stop(self) -> None:
        self.emulator.stop()
        self.proxy.stop()
        self.moto.stop()


def prepare(servers: Servers, backend: str, scenario: str, n: int) -> None:
    """Make the layout's services hold the scenario's starting state (a listing when they do)."""
    with servers.without_latency(backend) as port:
        reg: ServiceRegistry = open_backend(backend, port, 16)
        try:
            broker = Broker(reg)
            broker.manage_ns(Namespace(NS))
            for serv, start, size in layout(backend, n):
                broker.manage_serv(Service(serv, NS))
                wanted = [] if scenario == "from empty" else desired_of("no-op", size, serv, start)
                failures = broker.manage_serv_endps(NS, serv, wanted)
                assert not failures, failures
        finally:
            reg.close()


def measure(
    servers: Servers, backend: str, way: str, scenario: str, n: int, args: argparse.Namespace
) -> Result:
    runs = []
    for _ in range(args.repeat):
        prepare(servers, backend, scenario, n)
        spec = [backend, servers.port(backend), args.concurrency, way, scenario, n]
        cell_args = ["--cell", json.dumps(spec)]
        runs.append(run_cell("bench.cloud_endpoint_sets", cell_args, args.in_process))
    return summary(runs)


def backend_table(servers: Servers, backend: str, args: argparse.Namespace) -> str:
    sizes = sorted({args.small_n, args.n})
    results: dict[tuple[str, str, int], Result] = {}
    for n in sizes:  # way by way in the scenarios' order: each cell leaves the next one's state
        for way in args.way_list:
            if way != "ours" and n != args.small_n:
                continue
            for scenario in args.scenario_list:
                found = results[way, scenario, n] = measure(
                    servers, backend, way, scenario, n, args
                )
                print(
                    f"{backend}, {way}, {scenario}, N = {n}: {cell_text(found, 'req')}",
                    file=sys.stderr,
                    flush=True,
                )
    title = (
        f"{LABELS[backend]}, {args.latency_ms:g} ms per request, concurrency {args.concurrency}"
        + (f", {args.operation_ms:g} ms per operation" if args.operation_ms else "")
        + (
            f"; N = {args.n:,} is {len(layout(backend, args.n))} service(s) of at most 1,000"
            if backend == "cloudmap"
            else ""
        )
    )
    rows = table(
        sizes,
        args.scenario_list,
        args.way_list,
        lambda way, scenario, n: results.get((way, scenario, n)),
        unit="req",
    )
    return f"{title}\n\n{rows}"


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

    models.ServiceDiscoveryBackend.get_operation = get_operation  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_table_options(parser, WAYS, 1)
    parser.add_argument("--n", type=int, default=10_000, help="endpoints (default: %(default)s)")
    parser.add_argument(
        "--small-n",
        type=int,
        default=500,
        help="the N at which the seed's algorithm and the floor run too (default: %(default)s)",
    )
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--operation-ms", type=float, default=0.0)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="default: %(default)s")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        backend, port, concurrency, way, scenario, n = json.loads(args.cell)
        print_cell(cell(backend, port, concurrency, way, scenario, n))
        return
    args.scenario_list = subset(parser, args.scenarios, SCENARIOS, "scenario")
    args.way_list = subset(parser, args.ways, WAYS, "way")
    backends = subset(parser, args.backends, BACKENDS, "backend")
    if args.operation_ms:
        slow_operations(args.operation_ms / 1000)
    servers = Servers(args.latency_ms)
    try:
        tables = [backend_table(servers, backend, args) for backend in backends]
    finally:
        servers.stop()
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
