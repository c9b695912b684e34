"""Ownership at the granularity of the resource, end to end with the real Pulumi CLI: every
replacement the engine can do, renames with and without aliases, two endpoint sets on one
service, one object declared twice, and a stack written before holder marks existed. After each
step the registry holds exactly what the program declares, and the next preview and refresh
report no changes. Each stack declares every flow twice, in a SQLite and in an etcd registry
(suffixes ``-s`` and ``-e``), so each CLI run checks both backends."""

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
SUFFIXES = ("s", "e")

Spec = list[dict[str, Any]]


@pytest.fixture
def urls(sqlite_registry_url: str, etcd_registry_url: str) -> dict[str, str]:
    return {"s": sqlite_registry_url, "e": etcd_registry_url}


@pytest.fixture
def regs(urls: dict[str, str]) -> Iterator[dict[str, ServiceRegistry]]:
    registries = {suffix: open_registry(url) for suffix, url in urls.items()}
    yield registries
    for registry in registries.values():
        registry.close()


@pytest.fixture
def project(tmp_path: Path, pulumi_bin: str, urls: dict[str, str]) -> Project:
    project = Project(tmp_path, pulumi_bin, program=RESOURCES_PROGRAM)
    project.run("config", "set", "registries", json.dumps(urls))
    return project


def endpoints(*hosts: int) -> list[dict[str, Any]]:
    return [{"name": f"e{h}", "address": f"10.0.0.{h}", "port": 80} for h in hosts]


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


def both(ops: dict[str, str]) -> dict[str, str]:
    """``ops`` for the resources of both registries."""
    return {f"{name}-{suffix}": op for name, op in ops.items() for suffix in SUFFIXES}


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


def expected(
    suffix: str, holders: dict[str, str], ns: str = "ns", svc: str = "svc"
) -> dict[str, Any]:
    """Namespace shop, service web, and endpoint e<n> held by ``holders[e<n>]``."""
    return {
        "shop": {
            "metadata": {**MARKS, HOLDER: f"{ns}-{suffix}"},
            "services": {
                "web": {
                    "metadata": {**MARKS, HOLDER: f"{svc}-{suffix}"},
                    "endpoints": {
                        name: (f"10.0.0.{name[1:]}", 80, {**MARKS, HOLDER: f"{holder}-{suffix}"})
                        for name, holder in holders.items()
                    },
                }
            },
        }
    }


def holds(regs: dict[str, ServiceRegistry], holders: dict[str, str], **names: str) -> None:
    """Each registry holds exactly the objects ``expected`` describes."""
    for suffix, reg in regs.items():
        assert contents(reg) == expected(suffix, holders, **names), suffix


def settled(project: Project) -> None:
    """The next preview plans nothing and a refresh changes nothing."""
    assert project.preview() == {}
    out = project.refresh()
    assert "updated" not in out and "deleted" not in out, out


def replace_args(project: Project, name: str) -> list[str]:
    return [arg for s in SUFFIXES for arg in ("--replace", project.urn(f"{name}-{s}"))]


def test_every_replacement_keeps_the_registry(
    project: Project, urls: dict[str, str], regs: dict[str, ServiceRegistry]
) -> None:
    declare(project, base())
    project.up()
    two = {"e1": "eps", "e2": "eps"}
    holds(regs, two)

    # --replace of the endpoint set (create before delete): the new instance takes the
    # endpoints over, the old one's delete finds nothing of its own
    out = project.up(*replace_args(project, "eps"))
    assert "2 replaced" in out
    holds(regs, two)

    # --replace of a service with force_delete: service and endpoints stay
    project.up(*replace_args(project, "svc"))
    holds(regs, two)

    # delete_before_replace: the old instance goes first, the new one writes everything back
    spec = base()
    spec[2]["delete_before_replace"] = True
    declare(project, spec)
    project.up(*replace_args(project, "eps"))
    holds(regs, two)

    # replace_on_changes is ignored by dynamic resources (docs/ownership.md): an update
    spec[2]["replace_on_changes"] = ["endpoints"]
    spec[2]["args"]["endpoints"] = endpoints(1, 2, 3)
    declare(project, spec)
    assert project.preview() == both({"eps": "update"})
    project.up()
    three = {"e1": "eps", "e2": "eps", "e3": "eps"}
    holds(regs, three)

    # a change of registry location replaces everything: the new registry gets it all, the
    # old one is left empty
    moved = {
        "s": urls["s"].replace(".db", "-moved.db"),
        "e": urls["e"] + "-moved",
    }
    project.run("config", "set", "registries", json.dumps(moved))
    project.up()
    assert all(snapshot(reg) == {} for reg in regs.values())
    others = {suffix: open_registry(url) for suffix, url in moved.items()}
    try:
        holds(others, three)
        settled(project)
        project.destroy()
        assert all(snapshot(reg) == {} for reg in others.values())
    finally:
        for reg in others.values():
            reg.close()


def test_renames_keep_the_registry(project: Project, regs: dict[str, ServiceRegistry]) -> None:
    declare(project, base())
    project.up()

    # without an alias: a create of the new resource, then a delete of the old one
    declare(project, base(eps="eps-renamed"))
    assert project.preview() == both({"eps": "delete", "eps-renamed": "create"})
    project.up()
    holds(regs, {"e1": "eps-renamed", "e2": "eps-renamed"})
    settled(project)

    # a service with force_delete, renamed without an alias: the service and its endpoints stay
    spec = base(eps="eps-renamed")
    spec[1]["name"] = "svc-renamed"
    declare(project, spec)
    project.up()
    holds(regs, {"e1": "eps-renamed", "e2": "eps-renamed"}, svc="svc-renamed")

    # with an alias: one resource, updated in place; its holder pair follows the new name
    spec[2]["name"], spec[2]["aliases"] = "eps-final", ["eps-renamed"]
    declare(project, spec)
    assert project.preview() == both({"eps-final": "update"})
    project.up()
    holds(regs, {"e1": "eps-final", "e2": "eps-final"}, svc="svc-renamed")
    settled(project)
    project.destroy()
    assert all(snapshot(reg) == {} for reg in regs.values())


def test_two_endpoint_sets_share_a_service_and_one_object_is_declared_once(
    project: Project, regs: dict[str, ServiceRegistry]
) -> None:
    for reg in regs.values():
        reg.create_ns(Namespace("shop", MARKS))  # created by the stack, with another version
        reg.create_serv(Service("web", "shop", MARKS))
        reg.create_endp(Endpoint("theirs", "shop", "web", "10.9.0.1", 80, {"owner": "x"}))
    spec = base(eps="blue", hosts=(1, 2))
    green = copy.deepcopy(spec[2])
    green["name"], green["args"]["endpoints"] = "green", endpoints(3, 4)
    declare(project, [*spec, green])
    out = project.up()
    assert "9 created" in out  # the stack and 4 resources per registry
    theirs = ("10.9.0.1", 80, {"owner": "x"})
    want = {
        s: expected(s, {"e1": "blue", "e2": "blue", "e3": "green", "e4": "green"}) for s in SUFFIXES
    }
    for suffix, reg in regs.items():
        want[suffix]["shop"]["services"]["web"]["endpoints"]["theirs"] = theirs
        assert contents(reg) == want[suffix]
    settled(project)
    state = json.loads(project.exported_state())["deployment"]["resources"]
    foreign = [
        r["outputs"]["foreign_endpoints"] for r in state if "endpoint_count" in r.get("outputs", {})
    ]
    assert foreign == [["theirs"]] * 4  # the other set's endpoints are not foreign

    # one set declaring an endpoint of the other is refused at preview, naming both
    clash = copy.deepcopy(green)
    clash["args"]["endpoints"] = endpoints(2, 3, 4)
    declare(project, [*spec, clash])
    with pytest.raises(
        PulumiError,
        match=r"endpoint shop/web/e2 is declared by both RegistryEndpointSet 'blue-[se]' and "
        r"RegistryEndpointSet 'green-[se]'",
    ):
        project.preview()
    with pytest.raises(PulumiError, match="declared by both"):
        project.up()
    # so is a second resource declaring the namespace or the service
    for extra, message in (
        ({"kind": "ns", "name": "ns2", "args": {"name": "shop"}}, r"namespace shop .* 'ns2-"),
        (
            {"kind": "svc", "name": "svc2", "args": {"namespace": "shop", "name": "web"}},
            r"service shop/web is declared by both RegistryService 'svc-[se]' and "
            r"RegistryService 'svc2-[se]'",
        ),
    ):
        declare(project, [*spec, green, extra])
        with pytest.raises(PulumiError, match=message):
            project.preview()
    for suffix, reg in regs.items():
        assert contents(reg) == want[suffix]

    # removing blue removes blue's endpoints only
    declare(project, [*spec[:2], green])
    project.up()
    for suffix, reg in regs.items():
        del want[suffix]["shop"]["services"]["web"]["endpoints"]["e1"]
        del want[suffix]["shop"]["services"]["web"]["endpoints"]["e2"]
        assert contents(reg) == want[suffix]
    settled(project)


def test_stack_of_the_previous_version_upgrades_in_place(
    project: Project, regs: dict[str, ServiceRegistry]
) -> None:
    declare(project, base(hosts=(1, 2, 3)))
    project.up()
    # what the previous version left: objects with the owner and stack pairs only, and state
    # without the resource name input and the instance output, whose endpoint sets' outputs
    # list their endpoints (the state shape before the compact one)
    for reg in regs.values():
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
        outputs = resource.get("outputs", {})
        if outputs.pop("endpoint_count", None) is not None:
            outputs.pop("endpoints_sha256")
            outputs["endpoints"] = resource["inputs"]["endpoints"]
    project.import_state(state)

    # the next up adopts in place (no replacement), with e3 dropped from the program meanwhile
    declare(project, base(hosts=(1, 2)))
    assert project.preview() == both({"ns": "update", "svc": "update", "eps": "update"})
    project.up()
    holds(regs, {"e1": "eps", "e2": "eps"})
    settled(project)
    project.up(*replace_args(project, "eps"))
    holds(regs, {"e1": "eps", "e2": "eps"})
    project.destroy()
    assert all(snapshot(reg) == {} for reg in regs.values())
