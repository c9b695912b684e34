"""End to end with the real Pulumi CLI: preview, up, refresh and destroy of a Python program
using our resources, against every backend."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servregistry import Endpoint, Namespace, Service, errors, open_registry
from servregistry.backends.etcd import EtcdRegistry
from servregistry.model import endpoint_name
from servregistry.providers.ownership import HOLDER_KEY
from servregistry.registry import ServiceRegistry
from tests.e2e.pulumi_cli import Project, PulumiError
from tests.fixtures.etcd import ETCD_ROOT_PASSWORD, EtcdServer

STACK = {"pulumi-stack": "e2e_dev", "owner": "cnwan-operator"}


def held(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` without its holder pair, which must be there (docs/ownership.md)."""
    rest = dict(metadata)
    assert re.fullmatch(r"[a-z0-9_-]+-[0-9a-f]{12}", rest.pop(HOLDER_KEY, "")), metadata
    return rest


SPEC: dict[str, Any] = {
    "namespace": "shop",
    "service": "web",
    "metadata": {"tier": "frontend"},
    "endpoints": [
        {"name": "web-a", "address": "10.0.0.1", "port": 80},
        {"name": "web-b", "address": "10.0.0.2", "port": 80},
        {"address": "10.0.0.3", "port": 8080, "metadata": {"zone": "b"}},
    ],
}

Snapshot = dict[str, Any]


def snapshot(reg: ServiceRegistry) -> Snapshot:
    """Everything the registry holds, as plain data."""
    return {
        ns.name: {
            "metadata": ns.metadata,
            "services": {
                s.name: {
                    "metadata": s.metadata,
                    "endpoints": {e.name: e.model_dump() for e in reg.list_endp(ns.name, s.name)},
                }
                for s in reg.list_serv(ns.name)
            },
        }
        for ns in reg.list_ns()
    }


@pytest.fixture
def reg(registry_url: str) -> Iterator[ServiceRegistry]:
    registry = open_registry(registry_url)
    yield registry
    registry.close()


@pytest.fixture
def project(tmp_path: Path, pulumi_bin: str) -> Project:
    return Project(tmp_path, pulumi_bin)


def test_lifecycle(project: Project, registry_url: str, reg: ServiceRegistry) -> None:
    # someone else's objects, there before the stack
    reg.create_ns(Namespace("legacy", {"owner": "someone-else"}))
    reg.create_serv(Service("billing", "legacy", {"owner": "someone-else"}))
    reg.create_endp(Endpoint("billing-1", "legacy", "billing", "10.9.0.1", 443))
    before = snapshot(reg)
    spec = copy.deepcopy(SPEC)
    project.configure(registry_url, spec)

    # preview of a fresh stack: creates, and nothing written
    assert project.preview() == {
        "e2e-dev": "create",
        "ns": "create",
        "svc": "create",
        "eps": "create",
    }
    assert snapshot(reg) == before

    # up creates exactly what is declared, stamped with our owner pair and stack
    project.up()
    after_up = snapshot(reg)
    assert set(after_up) == {"legacy", "shop"}
    shop = after_up["shop"]
    assert held(shop["metadata"]) == STACK
    assert held(shop["services"]["web"]["metadata"]) == {"tier": "frontend", **STACK}
    endpoints = shop["services"]["web"]["endpoints"]
    assert len(endpoints) == 3 and {"web-a", "web-b"} < set(endpoints)
    assert all(e["metadata"]["owner"] == "cnwan-operator" for e in endpoints.values())
    assert project.preview() == {}

    # a metadata change is an in-place update
    spec["metadata"] = {"tier": "edge"}
    project.configure(registry_url, spec)
    assert project.preview()["svc"] == "update"
    project.up()
    assert held(reg.get_serv("shop", "web").metadata) == {"tier": "edge", **STACK}

    # renaming the service replaces it (and the endpoint set that lives in it)
    spec["service"] = "storefront"
    project.configure(registry_url, spec)
    ops = project.preview()
    assert (ops["svc"], ops["eps"]) == ("replace", "replace")
    project.up()
    assert [s.name for s in reg.list_serv("shop")] == ["storefront"]
    assert len(reg.list_endp("shop", "storefront")) == 3

    # someone else registers an endpoint in our service; shrinking our set leaves it alone
    reg.create_endp(Endpoint("theirs", "shop", "storefront", "10.8.0.1", 9, {"owner": "x"}))
    spec["endpoints"] = spec["endpoints"][:2]
    project.configure(registry_url, spec)
    assert project.preview()["eps"] == "update"
    out = project.up()
    assert (  # the endpoint set's plan reaches the person running pulumi
        "servregistry: shop/storefront: 0 endpoint(s) to create, 0 to update, 1 to delete "
        "(2 unchanged, 1 foreign left alone)"
    ) in out
    names = {e.name for e in reg.list_endp("shop", "storefront")}
    assert names == {"web-a", "web-b", "theirs"}

    # drift: metadata changed and an endpoint deleted outside Pulumi; refresh sees both,
    # and the next up puts our declaration back
    reg.update_serv(Service("storefront", "shop", {"tier": "manual", **STACK}))
    reg.delete_endp("shop", "storefront", "web-b")
    project.refresh()
    state = project.exported_state()
    assert '"manual"' in state
    assert project.preview()["svc"] == "update"
    project.up()
    assert held(reg.get_serv("shop", "storefront").metadata) == {"tier": "edge", **STACK}
    assert {e.name for e in reg.list_endp("shop", "storefront")} == {"web-a", "web-b", "theirs"}

    # their owner removes their endpoint; destroy then leaves the registry as it was
    reg.delete_endp("shop", "storefront", "theirs")
    project.destroy()
    assert snapshot(reg) == before


def test_endpoint_set_state_holds_each_endpoint_once(
    project: Project, sqlite_registry_url: str
) -> None:
    spec = copy.deepcopy(SPEC)
    project.configure(sqlite_registry_url, spec)
    project.up()
    # the SDK's endpoints attribute is the list, named and sorted as check gives it
    derived = endpoint_name("web", "10.0.0.3", 8080)
    outputs = json.loads(project.run("stack", "output", "--json").stdout)
    assert outputs["endpoints"] == sorted(
        [
            {"name": "web-a", "address": "10.0.0.1", "port": 80, "metadata": {}},
            {"name": "web-b", "address": "10.0.0.2", "port": 80, "metadata": {}},
            {"name": derived, "address": "10.0.0.3", "port": 8080, "metadata": {"zone": "b"}},
        ],
        key=lambda e: str(e["name"]),
    )
    # the state holds each endpoint once (the inputs), the outputs a digest and a count
    deployment = json.loads(project.exported_state())["deployment"]
    (eps,) = [r for r in deployment["resources"] if r["urn"].endswith("::eps")]
    assert len(eps["inputs"]["endpoints"]) == 3 and "endpoints" not in eps["outputs"]
    assert eps["outputs"]["endpoint_count"] == 3
    assert project.preview() == {}

    # a preview after changing one endpoint shows that endpoint's change, and only it
    spec["endpoints"][1]["port"] = 81
    project.configure(sqlite_registry_url, spec)
    shown = project.run("preview", "--diff").stdout
    planned = shown[shown.index("RegistryEndpointSet: (update)") : shown.index("--outputs:--")]
    assert re.findall(r"~ \[\d+\]", planned) == ["~ [1]"], shown  # web-b, by the inputs' order
    assert re.findall(r"\S+\s*: \S+ => \S+", planned) == ["port    : 80 => 81"], shown
    project.up()
    outputs = json.loads(project.run("stack", "output", "--json").stdout)
    assert [e["port"] for e in outputs["endpoints"] if e["name"] == "web-b"] == [81]
    assert project.preview() == {}
    project.destroy()


def test_foreign_objects_in_our_service_survive_destroy(
    project: Project, registry_url: str, reg: ServiceRegistry
) -> None:
    project.configure(registry_url, SPEC)
    project.up()
    reg.create_endp(Endpoint("theirs", "shop", "web", "10.8.0.1", 9, {"owner": "someone-else"}))
    out = project.destroy()
    assert "not ours" in out or "not empty" in out  # the warning reaches the user
    assert [e.name for e in reg.list_endp("shop", "web")] == ["theirs"]
    assert reg.get_endp("shop", "web", "theirs").metadata == {"owner": "someone-else"}


def test_foreign_namespace_is_refused(
    project: Project, registry_url: str, reg: ServiceRegistry
) -> None:
    reg.create_ns(Namespace("shop", {"owner": "someone-else", "team": "x"}))
    before = snapshot(reg)
    project.configure(registry_url, SPEC)
    with pytest.raises(PulumiError, match=r"not ours.*someone-else"):
        project.up()
    assert snapshot(reg) == before


def test_etcd_password_from_stack_secret_stays_secret(
    tmp_path: Path, pulumi_bin: str, etcd_auth_server: EtcdServer
) -> None:
    url = f"etcd://{etcd_auth_server.client_url}/e2e-auth?user=root"
    project = Project(tmp_path, pulumi_bin)
    project.configure(url, SPEC)
    project.set_secret("servregistry:etcdPassword", ETCD_ROOT_PASSWORD)
    project.up()
    state = project.exported_state()
    assert ETCD_ROOT_PASSWORD not in state
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert ETCD_ROOT_PASSWORD.encode() not in path.read_bytes(), path
    authed = EtcdRegistry.from_url(url)
    authed.use_password(ETCD_ROOT_PASSWORD)
    try:
        assert held(authed.get_serv("shop", "web").metadata) == {"tier": "frontend", **STACK}
        anonymous = EtcdRegistry.from_url(f"etcd://{etcd_auth_server.client_url}/e2e-auth")
        with pytest.raises(errors.ServiceRegistryError):
            anonymous.list_ns()
        project.destroy()
        assert authed.list_ns() == []
    finally:
        authed.close()
