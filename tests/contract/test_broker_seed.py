"""The seed's Broker tests, ported case by case, run over every real backend (docs/semantics.md)."""

from __future__ import annotations

import pytest

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service, errors
from servregistry.registry import ServiceRegistry
from tests.contract.recording import Recording

OWNER = {"owner": "cnwan-operator"}
FOREIGN = {"owner": "someone-else"}


@pytest.fixture
def rec(registry: ServiceRegistry) -> Recording:
    return Recording(registry)


@pytest.fixture
def broker(rec: Recording) -> Broker:
    return Broker(rec)


def _seed_ns(rec: Recording, name: str, metadata: dict[str, str]) -> None:
    rec.inner.create_ns(Namespace(name, metadata))


def _seed_serv(rec: Recording, ns: str, name: str, metadata: dict[str, str]) -> None:
    rec.inner.create_serv(Service(name, ns, metadata))


def _seed_endp(rec: Recording, name: str, metadata: dict[str, str], port: int = 80) -> None:
    rec.inner.create_endp(Endpoint(name, "ns", "serv", "10.0.0.1", port, metadata))


def _ns_serv(rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "serv", OWNER)


# TestNewBroker -----------------------------------------------------------------------------------


def test_new_broker_without_registry_raises(registry: ServiceRegistry) -> None:
    with pytest.raises(errors.RegistryNotProvidedError):
        Broker(None)


def test_new_broker_defaults_an_empty_owner_pair(registry: ServiceRegistry) -> None:
    broker = Broker(registry, MetadataPair("", ""))
    assert broker.owner == MetadataPair("owner", "cnwan-operator")


def test_new_broker_keeps_a_given_owner_pair(registry: ServiceRegistry) -> None:
    assert Broker(registry, MetadataPair("test", "testing")).owner == MetadataPair(
        "test", "testing"
    )


# TestManageNs ------------------------------------------------------------------------------------


def test_manage_ns_without_registry_raises_before_argument_checks(broker: Broker) -> None:
    broker.registry = None
    with pytest.raises(errors.RegistryNotProvidedError):
        broker.manage_ns(None)


def test_manage_ns_validates_its_argument(broker: Broker, rec: Recording) -> None:
    with pytest.raises(errors.NamespaceNotProvidedError):
        broker.manage_ns(None)
    with pytest.raises(errors.NamespaceNameNotProvidedError):
        broker.manage_ns(Namespace.model_construct(name="", metadata={}))
    assert rec.created == rec.updated == []


def test_manage_ns_get_error_is_returned_and_nothing_written(
    broker: Broker, rec: Recording
) -> None:
    with pytest.raises(errors.BackendError):
        broker.manage_ns(Namespace("get-error"))
    assert rec.created == rec.updated == []


@pytest.mark.parametrize("metadata", [FOREIGN, {}], ids=["foreign-owner", "no-owner"])
def test_manage_ns_leaves_a_foreign_namespace_unchanged(
    broker: Broker, rec: Recording, metadata: dict[str, str]
) -> None:
    _seed_ns(rec, "one", {**metadata, "key": "val"})
    got = broker.manage_ns(Namespace("one", {"key": "changed"}))
    assert got == Namespace("one", {**metadata, "key": "val"})
    assert not broker.owns(got)
    assert rec.created == rec.updated == []
    assert rec.inner.get_ns("one").metadata == {**metadata, "key": "val"}


def test_manage_ns_update_error_is_returned(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "update-error", {**OWNER, "key": "val"})
    with pytest.raises(errors.BackendError):
        broker.manage_ns(Namespace("update-error", {"key": "val-1"}))


def test_manage_ns_updates_changed_metadata_of_an_owned_namespace(
    broker: Broker, rec: Recording
) -> None:
    _seed_ns(rec, "update", {**OWNER, "key": "val", "stale": "x"})
    got = broker.manage_ns(Namespace("update", {"key": "val-1"}))
    assert got.metadata == {**OWNER, "key": "val-1"}
    assert rec.updated == ["update"] and rec.created == []
    assert rec.inner.get_ns("update").metadata == {**OWNER, "key": "val-1"}


def test_manage_ns_unchanged_metadata_writes_nothing(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "same", {**OWNER, "key": "val"})
    broker.manage_ns(Namespace("same", {"key": "val"}))
    assert rec.created == rec.updated == []


def test_manage_ns_create_error_is_returned(broker: Broker) -> None:
    with pytest.raises(errors.BackendError):
        broker.manage_ns(Namespace("create-error"))


def test_manage_ns_creates_with_the_owner_pair(broker: Broker, rec: Recording) -> None:
    got = broker.manage_ns(Namespace("create", {"key": "val"}))
    assert got == Namespace("create", {**OWNER, "key": "val"})
    assert rec.inner.get_ns("create") == got
    assert rec.created == ["create"] and rec.updated == []


# TestRemoveNs ------------------------------------------------------------------------------------


def test_remove_ns_validation(broker: Broker, rec: Recording) -> None:
    with pytest.raises(errors.NamespaceNameNotProvidedError):
        broker.remove_ns("")
    broker.registry = None
    with pytest.raises(errors.RegistryNotProvidedError):
        broker.remove_ns("ns")
    assert rec.deleted == []


def test_remove_ns_get_error_deletes_nothing(broker: Broker, rec: Recording) -> None:
    with pytest.raises(errors.BackendError):
        broker.remove_ns("get-error")
    assert rec.deleted == []


@pytest.mark.parametrize("force", [False, True])
def test_remove_ns_refuses_a_foreign_empty_namespace(
    broker: Broker, rec: Recording, force: bool
) -> None:
    _seed_ns(rec, "not-owned", {})
    with pytest.raises(errors.NamespaceNotOwnedError):
        broker.remove_ns("not-owned", force)
    assert rec.deleted == []
    assert rec.inner.get_ns("not-owned")


def test_remove_ns_of_a_missing_namespace_is_a_no_op(broker: Broker) -> None:
    broker.remove_ns("doesnt-exist")


def test_remove_ns_delete_error_is_returned(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "delete-error", OWNER)
    with pytest.raises(errors.BackendError):
        broker.remove_ns("delete-error", True)


def test_remove_ns_deletes_an_owned_empty_namespace(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "owned", OWNER)
    broker.remove_ns("owned")
    assert rec.deleted == ["owned"]
    with pytest.raises(errors.NotFoundError):
        rec.inner.get_ns("owned")


def test_remove_ns_list_error_is_returned(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "list-error", OWNER)
    with pytest.raises(errors.BackendError):
        broker.remove_ns("ns", True)
    assert rec.deleted == []


def _ns_with_mixed_services(rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "one", OWNER)
    _seed_serv(rec, "ns", "two", OWNER)
    _seed_serv(rec, "ns", "three", FOREIGN)


def test_remove_ns_not_empty_without_force(broker: Broker, rec: Recording) -> None:
    _ns_with_mixed_services(rec)
    with pytest.raises(errors.NamespaceNotEmptyError):
        broker.remove_ns("ns")
    assert rec.deleted == []


def test_remove_ns_forced_deletes_owned_services_and_keeps_foreign(
    broker: Broker, rec: Recording
) -> None:
    _ns_with_mixed_services(rec)
    with pytest.raises(errors.NamespaceHasForeignServicesError) as caught:
        broker.remove_ns("ns", True)
    assert "three" in str(caught.value)
    assert sorted(rec.deleted) == ["one", "two"]
    assert [s.name for s in rec.inner.list_serv("ns")] == ["three"]
    assert rec.inner.get_ns("ns")


# TestManageServ ----------------------------------------------------------------------------------


def test_manage_serv_validation_order(broker: Broker, rec: Recording) -> None:
    with pytest.raises(errors.ServiceNotProvidedError):
        broker.manage_serv(None)
    with pytest.raises(errors.ServiceNameNotProvidedError):
        broker.manage_serv(Service.model_construct(name="", ns_name="", metadata={}))
    with pytest.raises(errors.NamespaceNameNotProvidedError):
        broker.manage_serv(Service.model_construct(name="s", ns_name="", metadata={}))
    broker.registry = None
    with pytest.raises(errors.RegistryNotProvidedError):
        broker.manage_serv(None)
    assert rec.created == rec.updated == []


def test_manage_serv_get_error(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    with pytest.raises(errors.BackendError):
        broker.manage_serv(Service("get-error", "ns"))


@pytest.mark.parametrize("metadata", [FOREIGN, {}], ids=["foreign-owner", "no-owner"])
def test_manage_serv_leaves_a_foreign_service_unchanged(
    broker: Broker, rec: Recording, metadata: dict[str, str]
) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "serv", {**metadata, "k": "v"})
    got = broker.manage_serv(Service("serv", "ns", {"k": "other"}))
    assert got.metadata == {**metadata, "k": "v"}
    assert rec.created == rec.updated == []


def test_manage_serv_update_error(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "update-error", {**OWNER, "k": "v"})
    with pytest.raises(errors.BackendError):
        broker.manage_serv(Service("update-error", "ns", {"k": "v2"}))
    assert rec.updated == []


def test_manage_serv_updates_changed_metadata(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "update", {**OWNER, "k": "v"})
    got = broker.manage_serv(Service("update", "ns", {"k": "v2"}))
    assert got.metadata == {**OWNER, "k": "v2"}
    assert rec.updated == ["update"] and rec.created == []


def test_manage_serv_create_error(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    with pytest.raises(errors.BackendError):
        broker.manage_serv(Service("create-error", "ns"))
    assert rec.created == []


def test_manage_serv_creates_with_owner_and_persistent_metadata(rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    broker = Broker(rec, persistent_metadata=[MetadataPair("cnwan.io/platform", "GKE")])
    got = broker.manage_serv(Service("create", "ns", {"key": "val", "cnwan.io/platform": "x"}))
    assert got == Service("create", "ns", {**OWNER, "key": "val", "cnwan.io/platform": "GKE"})
    assert rec.inner.get_serv("ns", "create") == got
    assert rec.created == ["create"] and rec.updated == []


def test_persistent_metadata_is_never_applied_to_namespaces_or_endpoints(rec: Recording) -> None:
    broker = Broker(rec, persistent_metadata=[MetadataPair("cnwan.io/platform", "GKE")])
    assert broker.manage_ns(Namespace("ns")).metadata == OWNER
    broker.manage_serv(Service("serv", "ns"))
    broker.manage_serv_endps("ns", "serv", [Endpoint("e", "ns", "serv", "10.0.0.1", 80)])
    assert rec.inner.get_endp("ns", "serv", "e").metadata == OWNER


# TestRemoveServ ----------------------------------------------------------------------------------


def test_remove_serv_validation(broker: Broker, rec: Recording) -> None:
    with pytest.raises(errors.NamespaceNameNotProvidedError):
        broker.remove_serv("", "serv")
    with pytest.raises(errors.ServiceNameNotProvidedError):
        broker.remove_serv("ns", "")
    assert rec.deleted == []


def test_remove_serv_get_error(broker: Broker, rec: Recording) -> None:
    with pytest.raises(errors.BackendError):
        broker.remove_serv("ns", "get-error")
    assert rec.deleted == []


@pytest.mark.parametrize("metadata", [FOREIGN, {}], ids=["foreign-owner", "no-owner"])
def test_remove_serv_refuses_a_foreign_service(
    broker: Broker, rec: Recording, metadata: dict[str, str]
) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "serv", metadata)
    with pytest.raises(errors.ServiceNotOwnedError):
        broker.remove_serv("ns", "serv")
    assert rec.deleted == []


def test_remove_serv_of_a_missing_service_is_a_no_op(broker: Broker, rec: Recording) -> None:
    broker.remove_serv("ns", "doesnt-exist")
    broker.remove_serv("ns", "delete-error")
    assert rec.deleted == []


def test_remove_serv_deletes_an_owned_empty_service(broker: Broker, rec: Recording) -> None:
    _ns_serv(rec)
    broker.remove_serv("ns", "serv")
    assert rec.deleted == ["serv"]
    assert rec.inner.list_serv("ns") == []


def test_remove_serv_list_error(broker: Broker, rec: Recording) -> None:
    _ns_serv(rec)
    _seed_endp(rec, "list-error", OWNER)
    with pytest.raises(errors.BackendError):
        broker.remove_serv("ns", "serv", True)
    assert rec.deleted == []


def _serv_with_mixed_endpoints(rec: Recording) -> None:
    _ns_serv(rec)
    _seed_endp(rec, "one", OWNER)
    _seed_endp(rec, "two", OWNER)
    _seed_endp(rec, "three", FOREIGN)


def test_remove_serv_not_empty_without_force(broker: Broker, rec: Recording) -> None:
    _serv_with_mixed_endpoints(rec)
    with pytest.raises(errors.ServiceNotEmptyError):
        broker.remove_serv("ns", "serv")
    assert rec.deleted == []


def test_remove_serv_forced_deletes_owned_endpoints_and_keeps_foreign(
    broker: Broker, rec: Recording
) -> None:
    _serv_with_mixed_endpoints(rec)
    with pytest.raises(errors.ServiceHasForeignEndpointsError):
        broker.remove_serv("ns", "serv", True)
    assert sorted(rec.deleted) == ["one", "two"]
    assert [e.name for e in rec.inner.list_endp("ns", "serv")] == ["three"]


def test_remove_serv_forced_with_only_owned_endpoints(broker: Broker, rec: Recording) -> None:
    _ns_serv(rec)
    _seed_endp(rec, "one", OWNER)
    broker.remove_serv("ns", "serv", True)
    assert rec.inner.list_serv("ns") == []


def test_remove_serv_forced_delete_error(broker: Broker, rec: Recording) -> None:
    _seed_ns(rec, "ns", OWNER)
    _seed_serv(rec, "ns", "delete-error", OWNER)
    with pytest.raises(errors.BackendError):
        broker.remove_serv("ns", "delete-error", True)


# TestManageServEndps -----------------------------------------------------------------------------


def test_manage_serv_endps_validation(broker: Broker, rec: Recording) -> None:
    with pytest.raises(errors.NamespaceNameNotProvidedError):
        broker.manage_serv_endps("", "serv", [])
    with pytest.raises(errors.ServiceNameNotProvidedError):
        broker.manage_serv_endps("ns", "", [])
    broker.registry = None
    with pytest.raises(errors.RegistryNotProvidedError):
        broker.manage_serv_endps("ns", "serv", [])
    assert rec.created == rec.updated == rec.deleted == []


def test_manage_serv_endps_list_error(broker: Broker, rec: Recording) -> None:
    _ns_serv(rec)
    _seed_endp(rec, "list-error", OWNER)
    with pytest.raises(errors.BackendError):
        broker.manage_serv_endps("ns", "serv", [])
    assert rec.created == rec.updated == rec.deleted == []


def test_manage_serv_endps_reports_every_foreign_endpoint(broker: Broker, rec: Recording) -> None:
    _ns_serv(rec)
    _seed_endp(rec, "one", FOREIGN)
    _seed_endp(rec, "two", {})
    desired = [Endpoint(n, "ns", "serv", "10.9.9.9", 90) for n in ("one", "two")]
    failures = broker.manage_serv_endps("ns", "serv", desired)
    assert set(failures) == {"one", "two"}
    assert all(isinstance(e, errors.EndpointNotOwnedError) for e in failures.values())
    assert rec.created == rec.updated == rec.deleted == []
    assert rec.inner.get_endp("ns", "serv", "one").address == "10.0.0.1"


def test_manage_serv_endps_deletes_undesired_owned_endpoints(
    broker: Broker, rec: Recording
) -> None:
    _ns_serv(rec)
    _seed_endp(rec, "one-owned", OWNER)
    _seed_endp(rec, "delete-error", OWNER)
    failures = broker.manage_serv_endps("ns", "serv", [])
    assert list(failures) == ["delete-error"]
    assert isinstance(failures["delete-error"], errors.BackendError)
    assert rec.deleted == ["one-owned"]
    assert rec.created == rec.updated == []


def test_manage_serv_endps_updates_changed_endpoints_only(broker: Broker, rec: Recording) -> None:
    _ns_serv(rec)
    for name in ("no", "metad", "adr", "por", "update-error"):
        _seed_endp(rec, name, {**OWNER, "k": "v"})

    def desired(name: str, address: str = "10.0.0.1", port: int = 80, v: str = "v") -> Endpoint:
        return Endpoint(name, "ns", "serv", address, port, {"k": v})

    failures = broker.manage_serv_endps(
        "ns",
        "serv",
        [
            desired("no"),
            desired("metad", v="v2"),
            desired("adr", address="10.0.0.2"),
            desired("por", port=81),
            desired("update-error", v="v2"),
        ],
    )
    assert list(failures) == ["update-error"]
    assert set(rec.updated) >= {"metad", "adr", "por"} and "no" not in rec.updated
    assert rec.created == rec.deleted == []
    assert rec.inner.get_endp("ns", "serv", "adr").address == "10.0.0.2"
    assert rec.inner.get_endp("ns", "serv", "por").port == 81
    assert rec.inner.get_endp("ns", "serv", "metad").metadata == {**OWNER, "k": "v2"}


def test_manage_serv_endps_creates_missing_endpoints(broker: Broker, rec: Recording) -> None:
    _ns_serv(rec)
    _seed_endp(rec, "exists", OWNER)
    _seed_endp(rec, "del", OWNER)
    failures = broker.manage_serv_endps(
        "ns",
        "serv",
        [
            Endpoint("create", "other-ns", "other-serv", "10.0.0.1", 80, {"key": "val"}),
            Endpoint("create-nil", "ns", "serv", "10.0.0.1", 80),
            Endpoint("create-error", "ns", "serv", "10.0.0.1", 80),
            Endpoint("exists", "ns", "serv", "10.0.0.1", 80),
        ],
    )
    assert list(failures) == ["create-error"]
    assert sorted(rec.created) == ["create", "create-nil"]
    assert rec.updated == [] and rec.deleted == ["del"]
    created = rec.inner.get_endp("ns", "serv", "create")
    assert (created.ns_name, created.serv_name) == ("ns", "serv")
    assert created.metadata == {**OWNER, "key": "val"}
    assert rec.inner.get_endp("ns", "serv", "create-nil").metadata == OWNER
