"""Ownership per resource (docs/ownership.md), through the real provider process on every
backend: a replacement's create takes the stack's objects over and the old instance's delete
then removes nothing; endpoint sets sharing a service keep their own endpoints; one object
declared by two resources is refused at check; state written before holders existed upgrades
in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from servregistry import Endpoint, Namespace, Service
from servregistry.providers import EndpointSetProvider, NamespaceProvider, ServiceProvider
from servregistry.providers.ownership import HOLDER_KEY, holder_value
from servregistry.registry import ServiceRegistry
from tests.pulumi.harness import ProviderProcess, Resource

STACK = "demo_dev"
OURS = {"owner": "cnwan-operator", "pulumi-stack": STACK}


@pytest.fixture
def process() -> Iterator[ProviderProcess]:
    """One provider process per test: the engine starts one per deployment, and the table of
    what each resource declared lives in it (a registry URL may repeat across tests)."""
    proc = ProviderProcess()
    yield proc
    proc.close()


def props(url: str, resource: str, **fields: Any) -> dict[str, Any]:
    return {"registry": url, "stack": STACK, "resource_name": resource, **fields}


def endpoints(*hosts: int) -> list[dict[str, Any]]:
    return [{"name": f"e{h}", "address": f"10.0.0.{h}", "port": 80} for h in hosts]


def holders(reg: ServiceRegistry) -> dict[str, str]:
    return {e.name: e.metadata.get(HOLDER_KEY, "") for e in reg.list_endp("prod", "web")}


def parents(process: ProviderProcess, url: str, force: bool = False) -> Resource:
    Resource(process, NamespaceProvider(), "ns").create(props(url, "ns", name="prod"))
    svc = Resource(process, ServiceProvider(), "svc")
    svc.create(props(url, "svc", namespace="prod", name="web", force_delete=force))
    return svc


def test_replacement_takes_over_and_the_old_delete_removes_nothing(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    old_svc = parents(process, registry_url, force=True)
    eps = props(registry_url, "eps", namespace="prod", service="web", endpoints=endpoints(1, 2))
    old = Resource(process, EndpointSetProvider(), "eps")
    old.create(eps)
    assert set(holders(reg).values()) == {holder_value("eps", old.outputs["instance"])}

    new = Resource(process, EndpointSetProvider(), "eps")  # create before delete
    new.create(eps)
    assert new.outputs["instance"] != old.outputs["instance"]
    assert set(holders(reg).values()) == {holder_value("eps", new.outputs["instance"])}
    old.delete()
    assert set(holders(reg)) == {"e1", "e2"}
    assert [e["name"] for e in dict(new.read().inputs)["endpoints"]] == ["e1", "e2"]

    # the same for a service with force_delete: the old instance leaves service and endpoints
    new_svc = Resource(process, ServiceProvider(), "svc")
    new_svc.create(props(registry_url, "svc", namespace="prod", name="web", force_delete=True))
    old_svc.delete()
    assert reg.get_serv("prod", "web").metadata[HOLDER_KEY].startswith("svc-")
    assert set(holders(reg)) == {"e1", "e2"}
    assert new_svc.read().id == "prod/web" and new_svc.outputs["owned"] is True
    new_svc.delete()  # the holder removes it, with the stack's endpoints (force)
    assert [s.name for s in reg.list_serv("prod")] == []


def test_endpoint_sets_sharing_a_service_keep_their_own(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    parents(process, registry_url)
    reg.create_endp(Endpoint("theirs", "prod", "web", "10.9.0.1", 80, {"owner": "x"}))
    blue = Resource(process, EndpointSetProvider(), "blue")
    green = Resource(process, EndpointSetProvider(), "green")
    common = {"namespace": "prod", "service": "web"}
    blue.create(props(registry_url, "blue", **common, endpoints=endpoints(1, 2)))
    green.create(props(registry_url, "green", **common, endpoints=endpoints(3, 4)))
    assert {n: h[:-13] for n, h in holders(reg).items() if n != "theirs"} == {
        "e1": "blue",
        "e2": "blue",
        "e3": "green",
        "e4": "green",
    }
    assert green.outputs["foreign_endpoints"] == ["theirs"]
    for res, names in ((blue, ["e1", "e2"]), (green, ["e3", "e4"])):
        read = res.read()
        assert read.id
        assert [e["name"] for e in dict(read.inputs)["endpoints"]] == names
        assert res.outputs["foreign_endpoints"] == ["theirs"]
        assert res.outputs["endpoint_errors"] == {}

    blue.update(props(registry_url, "blue", **common, endpoints=endpoints(1)))
    assert set(holders(reg)) == {"e1", "e3", "e4", "theirs"}
    green.delete()
    assert set(holders(reg)) == {"e1", "theirs"}


def test_an_object_declared_twice_is_refused_at_check(
    process: ProviderProcess, registry_url: str
) -> None:
    first = Resource(process, NamespaceProvider(), "ns")
    assert first.check(props(registry_url, "ns", name="prod"))[1] == []
    assert first.check(props(registry_url, "ns", name="prod"))[1] == []  # the same one again
    _inputs, failures = Resource(process, NamespaceProvider(), "ns2").check(
        props(registry_url, "ns2", name="prod")
    )
    assert failures == [
        (
            "name",
            "namespace prod is declared by both RegistryNamespace 'ns' and RegistryNamespace "
            "'ns2' of this stack; an object belongs to one resource: declare it once "
            "(docs/ownership.md)",
        )
    ]

    common = {"namespace": "prod", "service": "web"}
    blue = Resource(process, EndpointSetProvider(), "blue")
    assert blue.check(props(registry_url, "blue", **common, endpoints=endpoints(1, 2)))[1] == []
    green = Resource(process, EndpointSetProvider(), "green")
    _inputs, failures = green.check(
        props(registry_url, "green", **common, endpoints=endpoints(3, 2))
    )
    assert [field for field, _reason in failures] == ["endpoints[1].name"]
    assert "RegistryEndpointSet 'blue' and RegistryEndpointSet 'green'" in failures[0][1]
    # another stack, or another registry, is another object
    other = props(registry_url, "green", **common, endpoints=endpoints(2))
    assert green.check({**other, "stack": "demo_prod"})[1] == []


def test_state_without_holders_upgrades_in_place(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    # what the previous version left: objects with the owner and stack pairs only
    reg.create_ns(Namespace("prod", OURS))
    reg.create_serv(Service("web", "prod", OURS))
    for h in (1, 2, 3, 7):
        reg.create_endp(Endpoint(f"e{h}", "prod", "web", f"10.0.0.{h}", 80, OURS))
    legacy = {"registry": registry_url, "stack": STACK, "namespace": "prod", "service": "web"}
    eps = Resource(process, EndpointSetProvider(), "eps")
    eps.id, eps.inputs = "prod/web", {**legacy, "endpoints": endpoints(1, 2, 3)}
    eps.outputs = {
        **eps.inputs,
        "registry_url": registry_url,
        "foreign_endpoints": [],
        "__provider": eps.provider,
    }

    new = props(registry_url, "eps", namespace="prod", service="web", endpoints=endpoints(1, 2))
    diff = eps.diff(new)
    assert diff.changes == diff.DIFF_SOME and list(diff.replaces) == []
    eps.update(new)
    # e3 was in its state: removed; e7 was not (another set's, unmarked): left alone
    assert holders(reg)["e1"] == holder_value("eps", eps.outputs["instance"])
    assert set(holders(reg)) == {"e1", "e2", "e7"}
    assert reg.get_endp("prod", "web", "e7").metadata == OURS
    assert eps.diff(new).changes == diff.DIFF_NONE

    # a destroy straight after the upgrade of the package (no up in between) follows the
    # same rule
    old = Resource(process, EndpointSetProvider(), "old")
    old.id, old.inputs = "prod/web", {**legacy, "endpoints": endpoints(7)}
    old.outputs = {
        **old.inputs,
        "registry_url": registry_url,
        "foreign_endpoints": [],
        "__provider": eps.provider,
    }
    old.delete()
    assert set(holders(reg)) == {"e1", "e2"}
