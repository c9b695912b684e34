"""Ownership at the granularity of the resource, end to end with the real Pulumi CLI: every
replacement the engine can do, renames with and without aliases, two endpoint sets on one
service, one object declared twice, and a stack written before holder marks existed. After each
step the registry holds exactly what the program declares, and the next preview and refresh
report no changes. Run on SQLite and etcd (the rules live above the backends)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servregistry import Endpoint, Namespace, Service, open_registry
from servregistry.registry import ServiceRegistry
from tests.e2e.pulumi_cli import RESOURCES_PROGRAM, Project, PulumiError
from tests.e2e.test_pulumi_cli import snapshot

MARKS = {"owner": "cnwan-operator", "pulumi-stack": "e2e_dev"}
HOLDER = "pulumi-resource"

Spec = list[dict[str, Any]]


@pytest.fixture(params=["sqlite", "etcd"])
def url(request: pytest.FixtureRequest) -> str:
    value: str = request.getfixturevalue(f"{request.param}_registry_url")
    return value


@pytest.fixture
def reg(url: str) -> Iterator[ServiceRegistry]:
    registry = open_registry(url)
    yield registry
    registry.close()


@pytest.fixture
def project(tmp_path: Path, pulumi_bin: str, url: str) -> Project:
    project = Project(tmp_path, pulumi_bin, program=RESOURCES_PROGRAM)
    project.run("config", "set", "servregistry:registry", url)
    return project


def endpoints(*hosts: int, port: int = 80) -> list[dict[str, Any]]:
    return [{"name": f"e{h}", "address": f"10.0.0.{h}", "port": port} for h in hosts]


def base(force: bool = True, eps: str = "eps", hosts: tuple[int, ...] = (1, 2)) -> Spec:
    return [
        {"kind": "ns", "name": "ns", "args": {"name": "shop", "force_delete": force}},
        {
            "kind": "svc",
            "name": "svc",
            "args": {"namespace": "shop", "name": "web", "force_delete": force},
        },
        {
            "kind": "eps",
            "name": eps,
            "args": {"namespace": "shop", "service": "web", "endpoints": endpoints(*hosts)},
        },
    ]


def declare(project: Project, spec: Spec) -> None:
    project.run("config", "set", "resources", json.dumps(spec))


def contents(reg: ServiceRegistry) -> dict[str, Any]:
    """The registry's raw contents, with holder values reduced to the resource name."""
    raw = snapshot(reg)

    def plain(metadata: dict[str, str]) -> dict[str, str]:
        held = metadata.get(HOLDER)
        return {**metadata, HOLDER: held[:-13]} if held else metadata

    for ns in raw.values():
        ns["metadata"] = plain(ns["metadata"])
        for serv in ns["services"].values():
            serv["metadata"] = plain(serv["metadata"])
            serv["endpoints"] = {
                name: (e["address"], e["port"], plain(e["metadata"]))
                for name, e in serv["endpoints"].items()
            }
    return raw


def expected(holders: dict[str, str], ns: str = "ns", svc: str = "svc") -> dict[str, Any]:
    """Namespace shop, service web, and endpoint e<n> held by ``holders[e<n>]``."""
    return {
        "shop": {
            "metadata": {**MARKS, HOLDER: ns},
            "services": {
                "web": {
                    "metadata": {**MARKS, HOLDER: svc},
                    "endpoints": {
                        name: (f"10.0.0.{name[1:]}", 80, {**MARKS, HOLDER: holder})
                        for name, holder in holders.items()
                    },
                }
            },
        }
    }


def settled(project: Project) -> None:
    """The next preview plans nothing and a refresh changes nothing."""
    assert project.preview() == {}
    out = project.refresh()
    assert "updated" not in out and "deleted" not in out, out


def test_every_replacement_keeps_the_registry(
    project: Project, url: str, reg: ServiceRegistry
) -> None:
    declare(project, base())
    project.up()
    want = expected({"e1": "eps", "e2": "eps"})
    assert contents(reg) == want

    # --replace of the endpoint set (create before delete): the new instance takes the
    # endpoints over, the old one's delete finds nothing of its own
    out = project.up("--replace", project.urn("eps"))
    assert "1 replaced" in out
    assert contents(reg) == want
    holders = {e.metadata[HOLDER] for e in reg.list_endp("shop", "web")}
    assert len(holders) == 1

    # --replace of a service with force_delete: service and endpoints stay
    project.up("--replace", project.urn("svc"))
    assert contents(reg) == want

    # delete_before_replace: the old instance goes first, the new one writes everything back
    spec = base()
    spec[2]["delete_before_replace"] = True
    declare(project, spec)
    project.up("--replace", project.urn("eps"))
    assert contents(reg) == want

    # replace_on_changes is ignored by dynamic resources (docs/ownership.md): an update
    spec[2]["replace_on_changes"] = ["endpoints"]
    spec[2]["args"]["endpoints"] = endpoints(1, 2, 3)
    declare(project, spec)
    assert project.preview() == {"eps": "update"}
    project.up()
    assert contents(reg) == expected({"e1": "eps", "e2": "eps", "e3": "eps"})
    settled(project)

    # a change of registry location replaces everything: the new registry gets it all, the
    # old one is left empty
    moved = url + "-moved" if url.startswith("etcd") else url.replace(".db", "-moved.db")
    for item in spec:
        item["args"]["registry"] = moved
    declare(project, spec)
    project.up()
    assert snapshot(reg) == {}
    other = open_registry(moved)
    try:
        assert contents(other) == expected({"e1": "eps", "e2": "eps", "e3": "eps"})
        settled(project)
        project.destroy()
        assert snapshot(other) == {}
    finally:
        other.close()


def test_renames_keep_the_registry(project: Project, reg: ServiceRegistry) -> None:
    declare(project, base())
    project.up()

    # without an alias: a create of the new resource, then a delete of the old one
    declare(project, base(eps="eps-renamed"))
    assert project.preview() == {"eps": "delete", "eps-renamed": "create"}
    project.up()
    assert contents(reg) == expected({"e1": "eps-renamed", "e2": "eps-renamed"})
    settled(project)

    # a service with force_delete, renamed without an alias: the service and its endpoints stay
    spec = base(eps="eps-renamed")
    spec[1]["name"] = "svc-renamed"
    declare(project, spec)
    project.up()
    assert contents(reg) == expected({"e1": "eps-renamed", "e2": "eps-renamed"}, svc="svc-renamed")
    settled(project)

    # with an alias: one resource, updated in place; its holder pair follows the new name
    spec[2]["name"], spec[2]["aliases"] = "eps-final", ["eps-renamed"]
    declare(project, spec)
    assert project.preview() == {"eps-final": "update"}
    project.up()
    assert contents(reg) == expected({"e1": "eps-final", "e2": "eps-final"}, svc="svc-renamed")
    settled(project)
    project.destroy()
    assert snapshot(reg) == {}


def test_two_endpoint_sets_share_a_service(project: Project, reg: ServiceRegistry) -> None:
    reg.create_ns(Namespace("shop", MARKS))  # created by the stack, with another version
    reg.create_serv(Service("web", "shop", MARKS))
    reg.create_endp(Endpoint("theirs", "shop", "web", "10.9.0.1", 80, {"owner": "x"}))
    spec = base(eps="blue", hosts=(1, 2))
    green = copy.deepcopy(spec[2])
    green["name"], green["args"]["endpoints"] = "green", endpoints(3, 4)
    declare(project, [*spec, green])
    out = project.up()
    assert "5 created" in out
    want = expected({"e1": "blue", "e2": "blue", "e3": "green", "e4": "green"})
    want["shop"]["services"]["web"]["endpoints"]["theirs"] = ("10.9.0.1", 80, {"owner": "x"})
    assert contents(reg) == want
    settled(project)
    state = json.loads(project.exported_state())["deployment"]["resources"]
    foreign = [
        r["outputs"]["foreign_endpoints"]
        for r in state
        if "foreign_endpoints" in r.get("outputs", {})
    ]
    assert foreign == [["theirs"], ["theirs"]]  # the other set's endpoints are not foreign

    # one set declaring an endpoint of the other is refused at preview, naming both
    clash = copy.deepcopy(green)
    clash["args"]["endpoints"] = endpoints(2, 3, 4)
    declare(project, [*spec, clash])
    with pytest.raises(
        PulumiError,
        match=r"declared by both RegistryEndpointSet 'blue' and "
        r"RegistryEndpointSet 'green'",
    ):
        project.preview()
    with pytest.raises(PulumiError, match="declared by both"):
        project.up()
    assert contents(reg) == want

    # removing blue removes blue's endpoints only
    declare(project, [*spec[:2], green])
    project.up()
    del want["shop"]["services"]["web"]["endpoints"]["e1"]
    del want["shop"]["services"]["web"]["endpoints"]["e2"]
    assert contents(reg) == want
    settled(project)


def test_one_object_declared_twice_is_refused(project: Project, reg: ServiceRegistry) -> None:
    declare(project, base())
    project.up()
    want = contents(reg)
    twice = [*base(), {"kind": "ns", "name": "ns-again", "args": {"name": "shop"}}]
    declare(project, twice)
    with pytest.raises(
        PulumiError,
        match=r"namespace shop is declared by both "
        r"RegistryNamespace 'ns' and RegistryNamespace 'ns-again'",
    ):
        project.preview()
    with pytest.raises(PulumiError, match="declared by both"):
        project.up()
    svc_twice = [
        *base(),
        {"kind": "svc", "name": "svc2", "args": {"namespace": "shop", "name": "web"}},
    ]
    declare(project, svc_twice)
    with pytest.raises(
        PulumiError,
        match=r"service shop/web is declared by both "
        r"RegistryService 'svc' and RegistryService 'svc2'",
    ):
        project.preview()
    assert contents(reg) == want
    declare(project, base())
    settled(project)


def test_stack_of_the_previous_version_upgrades_in_place(
    project: Project, reg: ServiceRegistry
) -> None:
    declare(project, base(hosts=(1, 2, 3)))
    project.up()
    # what the previous version left: objects with the owner and stack pairs only, and state
    # without the resource name input and the instance output
    for ns in reg.list_ns():
        reg.update_ns(ns.model_copy(update={"metadata": MARKS}))
        for serv in reg.list_serv(ns.name):
            reg.update_serv(serv.model_copy(update={"metadata": MARKS}))
            for endp in reg.list_endp(ns.name, serv.name):
                reg.update_endp(endp.model_copy(update={"metadata": MARKS}))
    state = json.loads(project.exported_state())
    for resource in state["deployment"]["resources"]:
        for props in (resource.get("inputs", {}), resource.get("outputs", {})):
            props.pop("instance", None)
            props.pop("resource_name", None)
    project.import_state(state)

    # the next up adopts in place (no replacement), with e3 dropped from the program meanwhile
    declare(project, base(hosts=(1, 2)))
    assert project.preview() == {"ns": "update", "svc": "update", "eps": "update"}
    project.up()
    assert contents(reg) == expected({"e1": "eps", "e2": "eps"})
    settled(project)
    project.up("--replace", project.urn("eps"))
    assert contents(reg) == expected({"e1": "eps", "e2": "eps"})
    project.destroy()
    assert snapshot(reg) == {}
