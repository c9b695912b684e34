"""Cloud Map: instances others registered without an IP (valid in an HTTP namespace), or that
cannot be decoded, are listed as stored and survive every removal and reconcile; the backend
never deregisters or deletes what it was not asked to. boto3 against moto's server."""

from __future__ import annotations

from typing import Any

import pytest

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.cloudmap import CloudMapRegistry
from servregistry.registry import EndpointChanges

OWNER = {"owner": "cnwan-operator"}
#: what another tool registers: no IP, no port (both optional in an HTTP namespace)
IPLESS = {"owner": "someone-else", "url": "https://billing.example.com"}


@pytest.fixture
def raw(cloudmap_raw: Any) -> Any:
    return cloudmap_raw


@pytest.fixture
def reg(cloudmap_registry: CloudMapRegistry) -> CloudMapRegistry:
    broker = Broker(cloudmap_registry)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    assert broker.manage_serv_endps("prod", "web", ours(3)) == {}
    return cloudmap_registry


def ours(count: int) -> list[Endpoint]:
    return [Endpoint(f"e{i}", "prod", "web", f"10.0.0.{i + 1}", 8000 + i) for i in range(count)]


def serv_id(raw: Any, name: str = "web") -> str:
    return str(next(s["Id"] for s in raw.list_services()["Services"] if s["Name"] == name))


def instances(raw: Any, name: str = "web") -> dict[str, dict[str, str]]:
    listed = raw.list_instances(ServiceId=serv_id(raw, name))["Instances"]
    return {i["Id"]: i.get("Attributes", {}) for i in listed}


def register(raw: Any, instance_id: str, attributes: dict[str, str]) -> None:
    raw.register_instance(ServiceId=serv_id(raw), InstanceId=instance_id, Attributes=attributes)


def test_instances_without_an_ip_or_port_are_listed_as_stored(
    reg: CloudMapRegistry, raw: Any
) -> None:
    register(raw, "billing", IPLESS)
    register(raw, "portonly", {"AWS_INSTANCE_PORT": "9000", "owner": "someone-else"})
    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    assert sorted(listed) == ["billing", "e0", "e1", "e2", "portonly"]
    billing = listed["billing"]
    assert (billing.address, billing.port, billing.metadata) == ("", 0, IPLESS)
    assert not billing.unreadable
    assert (listed["portonly"].address, listed["portonly"].port) == ("", 9000)
    assert reg.get_endp("prod", "web", "billing") == billing


def test_an_undecodable_instance_is_a_foreign_placeholder_even_with_our_owner_pair(
    reg: CloudMapRegistry, raw: Any
) -> None:
    register(raw, "odd", {"AWS_INSTANCE_IPV4": "10.9.9.9", "AWS_INSTANCE_PORT": "http", **OWNER})
    odd = reg.get_endp("prod", "web", "odd")
    assert "odd" in odd.unreadable and "http" in odd.unreadable
    assert odd.metadata == {}  # no owner pair can be seen: foreign by construction
    broker = Broker(reg)
    assert not broker.owns(odd)
    failures = broker.manage_serv_endps("prod", "web", [])
    assert list(failures) == ["odd"]
    assert isinstance(failures["odd"], errors.EndpointNotOwnedError)
    assert "odd" in instances(raw)  # reported, not deleted
    assert sorted(instances(raw)) == ["odd"]  # ours were removed


def test_remove_serv_without_force_keeps_a_foreign_ipless_instance(
    reg: CloudMapRegistry, raw: Any
) -> None:
    """Before: the IP-less instance was not listed, so the Broker saw only ours, and the
    backend's delete deregistered every instance of the service, the foreign one included."""
    register(raw, "billing", IPLESS)
    with pytest.raises(errors.ServiceNotEmptyError, match="billing"):
        Broker(reg).remove_serv("prod", "web")
    assert sorted(instances(raw)) == ["billing", "e0", "e1", "e2"]
    Broker(reg).manage_serv_endps("prod", "web", [])  # ours gone, the foreign one stays
    with pytest.raises(errors.ServiceNotEmptyError, match="billing"):
        Broker(reg).remove_serv("prod", "web")
    assert instances(raw) == {"billing": IPLESS}


def test_forced_removals_keep_foreign_ipless_instances(reg: CloudMapRegistry, raw: Any) -> None:
    register(raw, "billing", IPLESS)
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="billing"):
        Broker(reg).remove_serv("prod", "web", force_not_empty=True)
    assert instances(raw) == {"billing": IPLESS}  # ours deregistered, the foreign one kept
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="billing"):
        Broker(reg).remove_ns("prod", force_not_empty=True)
    assert instances(raw) == {"billing": IPLESS}
    assert [n.name for n in reg.list_ns()] == ["prod"]


def test_reconciles_report_and_keep_foreign_ipless_instances(
    reg: CloudMapRegistry, raw: Any
) -> None:
    register(raw, "billing", IPLESS)
    broker = Broker(reg)
    for desired in (ours(5), ours(2), ours(2), []):
        failures = broker.manage_serv_endps("prod", "web", desired)
        assert list(failures) == ["billing"]
        assert isinstance(failures["billing"], errors.EndpointNotOwnedError)
        assert instances(raw)["billing"] == IPLESS
        assert sorted(instances(raw)) == sorted(["billing", *(e.name for e in desired)])


def test_an_ipless_instance_of_ours_is_reconciled_like_any_other(
    reg: CloudMapRegistry, raw: Any
) -> None:
    register(raw, "e1", OWNER)  # ours, its IP and port lost (e.g. edited by hand)
    assert Broker(reg).manage_serv_endps("prod", "web", ours(3)) == {}
    assert instances(raw)["e1"]["AWS_INSTANCE_IPV4"] == "10.0.0.2"


def test_backend_deletes_never_take_children_with_them(reg: CloudMapRegistry, raw: Any) -> None:
    with pytest.raises(errors.ServiceNotEmptyError, match=r"e0, e1, e2"):
        reg.delete_serv("prod", "web")
    assert sorted(instances(raw)) == ["e0", "e1", "e2"]
    with pytest.raises(errors.NamespaceNotEmptyError, match="web"):
        reg.delete_ns("prod")
    assert [s.name for s in reg.list_serv("prod")] == ["web"]


def test_an_instance_registered_while_a_service_is_deleted_stays(
    reg: CloudMapRegistry, raw: Any
) -> None:
    """Another writer registers an instance between our listing and our DeleteService: Cloud
    Map refuses the delete (ResourceInUse) and the instance stays."""
    Broker(reg).manage_serv_endps("prod", "web", [])
    web = serv_id(raw)

    def race(**_: Any) -> None:
        raw.register_instance(ServiceId=web, InstanceId="late", Attributes=IPLESS)

    reg.client.meta.events.register_first("before-call.servicediscovery.DeleteService", race)
    with pytest.raises(errors.ServiceNotEmptyError, match="ResourceInUse"):
        reg.delete_serv("prod", "web")
    assert instances(raw) == {"late": IPLESS}


def test_batches_write_only_what_their_listing_allows(reg: CloudMapRegistry, raw: Any) -> None:
    register(raw, "billing", IPLESS)
    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    del listed["billing"]  # as if listed before it was registered
    taken = Endpoint("billing", "prod", "web", "10.1.1.1", 1, OWNER)
    changes = EndpointChanges("prod", "web", delete=["e0", "billing", "ghost"], current=listed)
    failures = reg.apply_endpoint_changes(changes)
    assert isinstance(failures.pop("ghost"), errors.ConflictError)
    assert isinstance(failures.pop("billing"), errors.ConflictError)  # not in its listing
    assert failures == {}  # e0, which was, is deregistered
    assert sorted(instances(raw)) == ["billing", "e1", "e2"]
    # a create of a listed name is refused: RegisterInstance would overwrite the instance
    taken = Endpoint("billing", "prod", "web", "10.1.1.1", 1, OWNER)
    changes = EndpointChanges("prod", "web", create=[taken])  # listed by the backend itself
    refused = reg.apply_endpoint_changes(changes)
    assert isinstance(refused["billing"], errors.AlreadyExistsError)
    assert instances(raw)["billing"] == IPLESS
