"""Input checks that run before anything is written: reserved metadata keys, strings no registry
can store, arguments of the wrong type, and ``MetadataPair``'s two call forms."""

from __future__ import annotations

from typing import Any

import pytest

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service, errors
from servregistry.registry import ServiceRegistry
from tests.fixtures.fuzz import snapshot

UNSTORABLE = ["\udc80", "a\ud800b", "x\x00y"]


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda t: Namespace(t), "namespace.name"),
        (lambda t: Namespace("ns", {t: "v"}), "namespace.metadata"),
        (lambda t: Namespace("ns", {"k": t}), "namespace.metadata"),
        (lambda t: Service(t, "ns"), "service.name"),
        (lambda t: Service("s", t), "service.ns_name"),
        (lambda t: Service("s", "ns", {t: t}), "service.metadata"),
        (lambda t: Endpoint(t, "ns", "s", "10.0.0.1", 80), "endpoint.name"),
        (lambda t: Endpoint("e", t, "s", "10.0.0.1", 80), "endpoint.ns_name"),
        (lambda t: Endpoint("e", "ns", t, "10.0.0.1", 80), "endpoint.serv_name"),
        (lambda t: Endpoint("e", "ns", "s", "fe80::1%" + t, 80), "endpoint.address"),
        (lambda t: Endpoint("e", "ns", "s", "10.0.0.1", 80, {"k": t}), "endpoint.metadata"),
        (lambda t: MetadataPair(t, "v"), "metadatapair.key"),
        (lambda t: MetadataPair("k", t), "metadatapair.value"),
    ],
)
def test_strings_no_registry_can_store_are_refused_by_the_model(
    build: Any, field: str, text: str
) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        build(text)
    assert caught.value.field == field
    assert "NUL" in caught.value.rule or "lone surrogate" in caught.value.rule
    assert text not in str(caught.value)  # shown escaped, so the message itself is printable
    str(caught.value).encode("utf-8")


def test_stored_objects_follow_the_same_text_rule() -> None:
    with pytest.raises(errors.InvalidInputError, match="lone surrogate"):
        Namespace.stored({"name": "ns", "metadata": {"k": "\udc80"}})


@pytest.mark.parametrize("text", UNSTORABLE)
def test_unstorable_name_arguments_are_refused_before_any_call(
    registry: ServiceRegistry, text: str
) -> None:
    broker = Broker(registry)
    broker.manage_ns(Namespace("ns"))
    before = snapshot(registry)
    for call, field in [
        (lambda: broker.remove_ns(text), "namespace.name"),
        (lambda: broker.remove_serv("ns", text), "service.name"),
        (lambda: broker.manage_serv_endps(text, "s", []), "namespace.name"),
    ]:
        with pytest.raises(errors.InvalidInputError) as caught:
            call()
        assert caught.value.field == field
    assert snapshot(registry) == before


@pytest.mark.parametrize("owner_key", ["owner", "team.example/owner"])
def test_user_metadata_may_not_hold_the_owner_key(
    sqlite_registry: ServiceRegistry, owner_key: str
) -> None:
    broker = Broker(sqlite_registry, MetadataPair(owner_key, "me"))
    broker.manage_ns(Namespace("ns"))
    broker.manage_serv(Service("s", "ns"))
    before = snapshot(sqlite_registry)
    bad = {owner_key: "someone", "team": "a"}
    for call, field in [
        (lambda: broker.manage_ns(Namespace("ns2", bad)), "namespace.metadata"),
        (lambda: broker.manage_serv(Service("s2", "ns", bad)), "service.metadata"),
        (
            lambda: broker.manage_serv_endps(
                "ns", "s", [Endpoint("e", "ns", "s", "10.0.0.1", 1), _endp("f", bad)]
            ),
            "endpoints[1].metadata",
        ),
    ]:
        with pytest.raises(errors.InvalidInputError) as caught:
            call()
        assert caught.value.field == field
        assert repr(owner_key) in caught.value.rule and "reserved" in caught.value.rule
    assert snapshot(sqlite_registry) == before


def test_user_metadata_may_not_hold_the_stack_key(sqlite_registry: ServiceRegistry) -> None:
    broker = Broker(sqlite_registry, stack=MetadataPair("pulumi-stack", "proj_dev"))
    with pytest.raises(errors.InvalidInputError, match="'pulumi-stack' is reserved"):
        broker.manage_ns(Namespace("ns", {"pulumi-stack": "proj_prod"}))
    assert sqlite_registry.list_ns() == []


def test_without_a_stack_the_stack_key_is_plain_metadata(sqlite_registry: ServiceRegistry) -> None:
    got = Broker(sqlite_registry).manage_ns(Namespace("ns", {"pulumi-stack": "x"}))
    assert got.metadata == {"pulumi-stack": "x", "owner": "cnwan-operator"}


@pytest.mark.parametrize(
    ("endpoints", "field", "rule"),
    [
        ("web-1", "endpoints", "expected a list of Endpoint, got str"),
        (b"web-1", "endpoints", "got bytes"),
        (42, "endpoints", "got int"),
        ({"e": 1}, "endpoints", "got dict"),
        (Endpoint("e", "ns", "s", "10.0.0.1", 1), "endpoints", "got Endpoint"),
        (["web-1"], "endpoints[0]", "expected Endpoint, got str"),
        ([Endpoint("e", "ns", "s", "10.0.0.1", 1), {"name": "x"}], "endpoints[1]", "got dict"),
    ],
)
def test_manage_serv_endps_refuses_what_is_not_a_list_of_endpoints(
    sqlite_registry: ServiceRegistry, endpoints: Any, field: str, rule: str
) -> None:
    broker = Broker(sqlite_registry)
    broker.manage_ns(Namespace("ns"))
    broker.manage_serv(Service("s", "ns"))
    with pytest.raises(errors.InvalidInputError) as caught:
        broker.manage_serv_endps("ns", "s", endpoints)
    assert caught.value.field == field
    assert rule in caught.value.rule
    assert sqlite_registry.list_endp("ns", "s") == []


def test_manage_serv_endps_takes_any_iterable_of_endpoints(
    sqlite_registry: ServiceRegistry,
) -> None:
    broker = Broker(sqlite_registry)
    broker.manage_ns(Namespace("ns"))
    broker.manage_serv(Service("s", "ns"))
    wanted = (Endpoint(f"e{i}", "ns", "s", "10.0.0.1", i) for i in range(3))
    assert broker.manage_serv_endps("ns", "s", wanted) == {}
    assert sorted(e.name for e in sqlite_registry.list_endp("ns", "s")) == ["e0", "e1", "e2"]


def test_manage_ns_and_serv_refuse_the_wrong_kind_of_object(
    sqlite_registry: ServiceRegistry,
) -> None:
    broker = Broker(sqlite_registry)
    with pytest.raises(errors.InvalidInputError, match="expected Namespace, got str"):
        broker.manage_ns("prod")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidInputError, match="expected Service, got Namespace"):
        broker.manage_serv(Namespace("prod"))  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidInputError, match="must be a string, not int"):
        broker.remove_ns(7)  # type: ignore[arg-type]
    assert sqlite_registry.list_ns() == []


def test_metadata_pair_takes_keywords_as_well_as_positions() -> None:
    assert MetadataPair(key="owner", value="me") == MetadataPair("owner", "me")
    assert MetadataPair("owner", value="me").value == "me"
    with pytest.raises(TypeError):
        MetadataPair("owner")  # type: ignore[call-arg]


def _endp(name: str, metadata: dict[str, str]) -> Endpoint:
    return Endpoint(name, "ns", "s", "10.0.0.2", 2, metadata)
