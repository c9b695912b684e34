"""Service Directory: endpoints others wrote without an address (the API allows it), or that
cannot be decoded, are listed as stored, so their service can still be reconciled and removed,
and they survive every removal and reconcile. The official client over real gRPC against the
emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.cloud import servicedirectory_v1 as sd
from google.cloud.servicedirectory_v1.services.registration_service.transports import (
    RegistrationServiceGrpcTransport,
)

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.servicedirectory import ServiceDirectoryRegistry
from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator
from servregistry.registry import EndpointChanges

OWNER = {"owner": "cnwan-operator"}
#: what another tool writes: annotations, no address, no port
BARE = {"owner": "someone-else", "url": "https-billing"}


@pytest.fixture
def raw(servicedirectory_server: str) -> Iterator[Any]:
    channel = grpc.insecure_channel(servicedirectory_server)
    yield sd.RegistrationServiceClient(transport=RegistrationServiceGrpcTransport(channel=channel))
    channel.close()


@pytest.fixture
def reg(servicedirectory_registry: ServiceDirectoryRegistry) -> ServiceDirectoryRegistry:
    broker = Broker(servicedirectory_registry)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    assert broker.manage_serv_endps("prod", "web", ours(3)) == {}
    return servicedirectory_registry


def ours(count: int) -> list[Endpoint]:
    return [Endpoint(f"e{i}", "prod", "web", f"10.0.0.{i + 1}", 8000 + i) for i in range(count)]


def web(reg: ServiceDirectoryRegistry) -> str:
    return reg.native_id(Service("web", "prod"))


def add_bare(raw: Any, reg: ServiceDirectoryRegistry, name: str = "billing") -> None:
    raw.create_endpoint(parent=web(reg), endpoint_id=name, endpoint=sd.Endpoint(annotations=BARE))


def stored(raw: Any, reg: ServiceDirectoryRegistry) -> dict[str, tuple[str, int, dict[str, str]]]:
    return {
        e.name.rsplit("/", 1)[-1]: (e.address, e.port, dict(e.annotations))
        for e in raw.list_endpoints(parent=web(reg))
    }


def test_an_endpoint_without_an_address_is_listed_as_stored(
    reg: ServiceDirectoryRegistry, raw: Any
) -> None:
    """Before: one such endpoint made every listing of its service fail (BackendError)."""
    add_bare(raw, reg)
    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    assert sorted(listed) == ["billing", "e0", "e1", "e2"]
    billing = listed["billing"]
    assert (billing.address, billing.port, billing.metadata, billing.unreadable) == (
        "",
        0,
        BARE,
        "",
    )
    assert reg.get_endp("prod", "web", "billing") == billing


def test_remove_serv_without_force_keeps_an_address_less_endpoint(
    reg: ServiceDirectoryRegistry, raw: Any
) -> None:
    add_bare(raw, reg)
    with pytest.raises(errors.ServiceNotEmptyError, match="billing"):
        Broker(reg).remove_serv("prod", "web")
    assert sorted(stored(raw, reg)) == ["billing", "e0", "e1", "e2"]
    Broker(reg).manage_serv_endps("prod", "web", [])
    with pytest.raises(errors.ServiceNotEmptyError, match="billing"):
        Broker(reg).remove_serv("prod", "web")
    assert stored(raw, reg) == {"billing": ("", 0, BARE)}


def test_forced_removals_keep_an_address_less_endpoint(
    reg: ServiceDirectoryRegistry, raw: Any
) -> None:
    add_bare(raw, reg)
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="billing"):
        Broker(reg).remove_serv("prod", "web", force_not_empty=True)
    assert stored(raw, reg) == {"billing": ("", 0, BARE)}
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="billing"):
        Broker(reg).remove_ns("prod", force_not_empty=True)
    assert stored(raw, reg) == {"billing": ("", 0, BARE)}
    assert [n.name for n in reg.list_ns()] == ["prod"]


def test_reconciles_report_and_keep_an_address_less_endpoint(
    reg: ServiceDirectoryRegistry, raw: Any
) -> None:
    add_bare(raw, reg)
    broker = Broker(reg)
    for desired in (ours(5), ours(2), ours(2), []):
        failures = broker.manage_serv_endps("prod", "web", desired)
        assert list(failures) == ["billing"]
        assert isinstance(failures["billing"], errors.EndpointNotOwnedError)
        assert stored(raw, reg)["billing"] == ("", 0, BARE)
        assert sorted(stored(raw, reg)) == sorted(["billing", *(e.name for e in desired)])


def test_an_undecodable_endpoint_is_a_foreign_placeholder(
    reg: ServiceDirectoryRegistry, servicedirectory_emulator: ServiceDirectoryEmulator
) -> None:
    """A port the API would refuse (written by some other path): the endpoint is listed as an
    unreadable placeholder, without metadata, so it is foreign even with our owner pair."""
    name = f"{web(reg)}/endpoints/odd"
    servicedirectory_emulator.put(sd.Endpoint(name=name, port=70000, annotations=OWNER))
    odd = reg.get_endp("prod", "web", "odd")
    assert "endpoint.port" in odd.unreadable and "odd" in odd.unreadable
    assert odd.metadata == {}
    failures = Broker(reg).manage_serv_endps("prod", "web", [])
    assert list(failures) == ["odd"]
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="odd"):
        Broker(reg).remove_serv("prod", "web", force_not_empty=True)
    assert [e.name for e in reg.list_endp("prod", "web")] == ["odd"]


def test_backend_deletes_never_cascade(
    reg: ServiceDirectoryRegistry, servicedirectory_emulator: ServiceDirectoryEmulator
) -> None:
    """The API deletes a service's endpoints (and a namespace's services) with it; the backend
    deletes only an empty parent, so nothing it was not asked to remove goes."""
    calls = servicedirectory_emulator.calls
    before = (calls["DeleteService"], calls["DeleteNamespace"])
    with pytest.raises(errors.ServiceNotEmptyError, match=r"e0, e1, e2"):
        reg.delete_serv("prod", "web")
    with pytest.raises(errors.NamespaceNotEmptyError, match="web"):
        reg.delete_ns("prod")
    assert (calls["DeleteService"], calls["DeleteNamespace"]) == before
    assert len(reg.list_endp("prod", "web")) == 3


def test_batches_write_only_what_their_listing_allows(
    reg: ServiceDirectoryRegistry, raw: Any, servicedirectory_emulator: ServiceDirectoryEmulator
) -> None:
    add_bare(raw, reg)
    name = f"{web(reg)}/endpoints/odd"
    servicedirectory_emulator.put(sd.Endpoint(name=name, port=70000, annotations=OWNER))
    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    del listed["billing"]  # as if listed before it was written
    changes = EndpointChanges("prod", "web", delete=["e0", "billing", "odd"], current=listed)
    failures = reg.apply_endpoint_changes(changes)
    assert isinstance(failures.pop("billing"), errors.ConflictError)
    assert isinstance(failures.pop("odd"), errors.EndpointNotOwnedError)
    assert failures == {}
    assert sorted(stored(raw, reg)) == ["billing", "e1", "e2", "odd"]
