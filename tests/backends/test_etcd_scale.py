"""Large services on a real etcd: reads are paged at one revision, so a service of any size can
be read back (one unpaged range read of ~19,500 endpoints already exceeds gRPC's default 4 MiB
receive limit)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.etcd import EtcdRegistry, layout
from servregistry.backends.etcd import client as etcd_client

N = 100_000
OWNER = {"owner": "cnwan-operator"}


def endpoint(i: int, port: int = 8080, stored: bool = True) -> Endpoint:
    """Endpoint ``i``: as stored (with the owner pair), or as declared to a Broker."""
    return Endpoint(
        f"endpoint-{i:06d}",
        "big",
        "web",
        f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
        port,
        {**(OWNER if stored else {}), "zone": f"zone-{i % 3}", "weight": "100"},
    )


def count_ranges(reg: EtcdRegistry) -> list[int]:
    """Counts the Range requests the registry's client sends (one element per request)."""
    client = reg.client
    real = client.range
    sent: list[int] = []

    def counted(request: Any) -> Any:
        sent.append(1)
        return real(request)

    client.range = counted  # type: ignore[method-assign]
    return sent


def test_a_100k_endpoint_service_is_read_back(
    etcd_registry: EtcdRegistry,
) -> None:
    reg = etcd_registry
    broker = Broker(reg)
    broker.manage_ns(Namespace("big"))
    broker.manage_serv(Service("web", "big"))
    tx = reg.client.transactions
    puts = [tx.put(layout.key_of(reg.prefix, e), layout.encode(e)) for e in map(endpoint, range(N))]
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: reg.client.transaction([], puts[i : i + 128]), range(0, N, 128)))
    written = time.monotonic() - started
    size = sum(len(p.key) + len(p.value) for p in puts)
    assert size > 4 * 1024 * 1024 * 4  # far beyond one unpaged read

    pages = count_ranges(reg)
    started = time.monotonic()
    listed = reg.list_endp("big", "web")
    read = time.monotonic() - started
    assert len(listed) == N and listed[0] == endpoint(0) and listed[-1] == endpoint(N - 1)
    read_pages = len(pages)
    assert read_pages >= N // etcd_client.PAGE_KEYS

    # listing the namespace's services reads keys, and values only of the services
    client = reg.client
    real = client.range
    received: list[int] = []

    def measured(request: Any) -> Any:
        response = real(request)
        received.append(response.ByteSize())
        return response

    client.range = measured  # type: ignore[method-assign]
    started = time.monotonic()
    assert [s.name for s in reg.list_serv("big")] == ["web"]
    assert [n.name for n in reg.list_ns()] == ["big"]
    listed_parents = time.monotonic() - started
    assert sum(received) / 2 < size / 2  # each listing: under half of the values' bytes
    print(
        f"\netcd {N:,} endpoints: {size / 1e6:.1f} MB written in {written:.1f} s (bare puts), "
        f"read back in {read:.1f} s ({read_pages} pages); list_serv + list_ns above them "
        f"{listed_parents:.1f} s ({sum(received) / 1e6:.1f} MB of keys)"
    )


def test_a_25k_endpoint_set_is_written_then_reconciled(etcd_registry: EtcdRegistry) -> None:
    """Beyond the ~19,500 endpoints one unpaged read could hold: the Broker writes the set,
    then a fresh registry (nothing cached) reconciles a 1% change."""
    n = 25_000
    broker = Broker(etcd_registry)
    broker.manage_ns(Namespace("big"))
    broker.manage_serv(Service("web", "big"))
    started = time.monotonic()
    assert (
        broker.manage_serv_endps("big", "web", [endpoint(i, stored=False) for i in range(n)]) == {}
    )
    written = time.monotonic() - started
    host, port = etcd_registry.endpoints[0]
    fresh = EtcdRegistry([f"{host}:{port}"], prefix=etcd_registry.prefix)
    try:
        started = time.monotonic()
        changed = [endpoint(i, 9090 if i % 100 == 0 else 8080, stored=False) for i in range(n)]
        assert Broker(fresh).manage_serv_endps("big", "web", changed) == {}
        reconciled = time.monotonic() - started
        ports = [e.port for e in fresh.list_endp("big", "web")]
        assert len(ports) == n and ports.count(9090) == n // 100
    finally:
        fresh.close()
    print(
        f"\netcd {n:,}-endpoint set: written in {written:.1f} s, 1% changed in {reconciled:.1f} s"
    )


def test_a_page_too_large_to_receive_is_read_in_smaller_pages(
    etcd_registry: EtcdRegistry,
) -> None:
    """Values near etcd's size limit: 40 of them exceed the client's receive limit in one page;
    the read asks for fewer keys a page and still returns one consistent view."""
    reg = etcd_registry
    reg.create_ns(Namespace("big"))
    reg.create_serv(Service("web", "big"))
    fat = {f"k{j}": "x" * 1000 for j in range(900)}  # ~0.9 MB a value
    endps = [Endpoint(f"e{i:02d}", "big", "web", "10.0.0.1", i, fat) for i in range(40)]
    for e in endps:
        reg.create_endp(e)
    assert etcd_client.MAX_RECEIVE_BYTES < 40 * 0.9e6
    pages = count_ranges(reg)
    assert reg.list_endp("big", "web") == endps
    assert len(pages) >= 3  # the first, too large, then smaller ones
