"""The three providers in the real ``python -m pulumi.dynamic`` process, over gRPC, against
every real backend: configure, check, diff, create, read, update, delete."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from servregistry import Endpoint, Namespace, Service, errors, open_registry
from servregistry.model import endpoint_name
from servregistry.providers import EndpointSetProvider, NamespaceProvider, ServiceProvider
from servregistry.providers.ownership import HOLDER_KEY
from servregistry.registry import ServiceRegistry
from tests.pulumi.harness import UNKNOWN, ProviderError, ProviderProcess, Resource

STACK = "demo_dev"
OURS = {"owner": "cnwan-operator", "pulumi-stack": STACK}


def held(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` without its holder pair, which must be there (docs/ownership.md)."""
    rest = dict(metadata)
    assert re.fullmatch(r"[a-z0-9_-]+-[0-9a-f]{12}", rest.pop(HOLDER_KEY, "")), metadata
    return rest


@pytest.fixture(scope="module")
def process() -> Iterator[ProviderProcess]:
    proc = ProviderProcess()
    yield proc
    proc.close()


def ns_props(url: str, **extra: object) -> dict[str, object]:
    return {"name": "prod", "registry": url, "stack": STACK, **extra}


def test_namespace_lifecycle(process: ProviderProcess, registry_url: str, reg: ServiceRegistry):
    res = Resource(process, NamespaceProvider(), "prod")
    outs = res.create(ns_props(registry_url, metadata={"team": "core"}))
    assert res.id == "prod"
    assert outs["owned"] is True
    assert outs["metadata"] == {"team": "core"}
    assert (outs["owner_key"], outs["owner_value"]) == ("owner", "cnwan-operator")
    assert outs["registry_url"] == registry_url
    assert held(reg.get_ns("prod").metadata) == {"team": "core", **OURS}

    # metadata updates in place; a new name replaces; connection-only changes are no change
    diff = res.diff(ns_props(registry_url, metadata={"team": "edge"}))
    assert diff.changes == diff.DIFF_SOME and list(diff.replaces) == []
    diff = res.diff(ns_props(registry_url, name="staging", metadata={"team": "core"}))
    assert list(diff.replaces) == ["name"] and not diff.deleteBeforeReplace
    diff = res.diff(ns_props(_with_connection_option(registry_url), metadata={"team": "core"}))
    assert diff.changes == diff.DIFF_NONE
    res.update(ns_props(registry_url, metadata={"team": "edge"}))
    assert held(reg.get_ns("prod").metadata) == {"team": "edge", **OURS}

    # drift: metadata changed outside Pulumi shows on read, and is realigned in the inputs
    reg.update_ns(Namespace("prod", {"team": "ops", **OURS}))
    read = res.read()
    assert res.outputs["metadata"] == {"team": "ops"}
    assert dict(read.inputs)["metadata"] == {"team": "ops"}

    res.delete()
    with pytest.raises(errors.NotFoundError):
        reg.get_ns("prod")
    assert res.read().id == ""  # gone: the engine drops it from state
    res.delete()  # deleting something already gone succeeds


def test_check_reports_each_bad_property(process: ProviderProcess, registry_url: str) -> None:
    res = Resource(process, NamespaceProvider(), "bad")
    _inputs, failures = res.check(
        {"name": "", "metadata": {"owner": "me"}, "registry": registry_url, "force_delete": 3}
    )
    props = {p for p, _ in failures}
    assert {"name", "force_delete"} <= props
    _inputs, failures = res.check(ns_props(registry_url, metadata={"owner": "me"}))
    assert [p for p, _ in failures] == ["metadata"]
    assert "reserved" in failures[0][1]
    _inputs, failures = res.check(ns_props("nosuch://x"))
    assert [p for p, _ in failures] == ["registry"]


def test_preview_unknowns_are_tolerated(process: ProviderProcess, registry_url: str) -> None:
    res = Resource(process, EndpointSetProvider(), "eps")
    inputs, failures = res.check(
        {
            "namespace": UNKNOWN,
            "service": "web",
            "registry": registry_url,
            "endpoints": [{"address": UNKNOWN, "port": 80}, {"address": "10.0.0.1", "port": 81}],
        }
    )
    assert failures == []
    assert inputs["endpoints"][1]["name"] == endpoint_name("web", "10.0.0.1", 81)
    ns = Resource(process, NamespaceProvider(), "prod")
    ns.create(ns_props(registry_url))
    diff = ns.diff({**ns_props(registry_url), "name": UNKNOWN})
    assert "name" in diff.replaces
    ns.delete()


def test_create_refuses_foreign_and_adopts_ours(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    reg.create_ns(Namespace("prod", {"owner": "someone-else", "x": "1"}))
    res = Resource(process, NamespaceProvider(), "prod")
    # check (so preview) reads the registry and refuses the name; create refuses it too
    _inputs, failures = res.check(ns_props(registry_url))
    assert [f for f, _ in failures] == ["name"], failures
    assert re.search(r"namespace 'prod' already exists.*not ours.*someone-else", failures[0][1])
    with pytest.raises(ProviderError, match=r"not ours.*someone-else") as raised:
        res.create(ns_props(registry_url), check=False)
    assert "Traceback" not in str(raised.value)  # our errors reach the CLI as their message
    assert reg.get_ns("prod").metadata == {"owner": "someone-else", "x": "1"}

    # another stack sharing the registry and the default owner pair: also refused
    reg.create_ns(Namespace("shared", {"owner": "cnwan-operator", "pulumi-stack": "demo_prod"}))
    other = Resource(process, NamespaceProvider(), "shared")
    _inputs, failures = other.check(ns_props(registry_url, name="shared"))
    assert len(failures) == 1 and "pulumi-stack" in failures[0][1], failures
    with pytest.raises(ProviderError, match="pulumi-stack"):
        other.create(ns_props(registry_url, name="shared"), check=False)

    # an object left by an earlier, interrupted run of this stack is adopted
    reg.create_ns(Namespace("mine", {**OURS, "stale": "yes"}))
    mine = Resource(process, NamespaceProvider(), "mine")
    outs = mine.create(ns_props(registry_url, name="mine", metadata={"fresh": "yes"}))
    assert outs["owned"] is True
    assert held(reg.get_ns("mine").metadata) == {**OURS, "fresh": "yes"}


def test_delete_leaves_foreign_and_non_empty_parents(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    ns = Resource(process, NamespaceProvider(), "prod")
    ns.create(ns_props(registry_url))
    reg.create_serv(Service("theirs", "prod", {"owner": "someone-else"}))
    ns.delete()  # not empty, no force: left in place with a warning, not an error
    assert reg.get_ns("prod").name == "prod"
    ns.create(ns_props(registry_url, force_delete=True))
    ns.delete()  # forced, but a foreign service remains: the namespace stays
    assert reg.get_serv("prod", "theirs").metadata == {"owner": "someone-else"}
    assert reg.get_ns("prod").name == "prod"

    # taken over by someone else after creation: delete does not touch it
    reg.delete_serv("prod", "theirs")
    reg.update_ns(Namespace("prod", {"owner": "new-team"}))
    ns.delete()
    assert reg.get_ns("prod").metadata == {"owner": "new-team"}


def test_owner_change_replaces_delete_first(process: ProviderProcess, registry_url: str) -> None:
    _ensure_ns(process, registry_url)
    res = Resource(process, ServiceProvider(), "web")
    props = {"namespace": "prod", "name": "web", "registry": registry_url, "stack": STACK}
    res.create(props)
    diff = res.diff({**props, "owner_value": "platform"})
    assert list(diff.replaces) == ["owner_value"]
    assert diff.deleteBeforeReplace
    diff = res.diff({**props, "namespace": "staging"})
    assert list(diff.replaces) == ["namespace"]
    assert not diff.deleteBeforeReplace


def _ensure_ns(process: ProviderProcess, url: str) -> bool:
    Resource(process, NamespaceProvider(), "prod").create(ns_props(url))
    return True


def test_service_needs_its_namespace(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    res = Resource(process, ServiceProvider(), "web")
    props = {"namespace": "prod", "name": "web", "registry": registry_url, "stack": STACK}
    with pytest.raises(ProviderError, match="prod"):
        res.create(props)
    _ensure_ns(process, registry_url)
    outs = res.create({**props, "metadata": {"tier": "1"}})
    assert outs["owned"] is True
    assert held(reg.get_serv("prod", "web").metadata) == {"tier": "1", **OURS}
    res.delete()
    with pytest.raises(errors.NotFoundError):
        reg.get_serv("prod", "web")


def eps_props(url: str, endpoints: list[dict[str, object]]) -> dict[str, object]:
    return {
        "namespace": "prod",
        "service": "web",
        "registry": url,
        "stack": STACK,
        "endpoints": endpoints,
    }


def test_endpoint_set_lifecycle(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    _ensure_ns(process, registry_url)
    Resource(process, ServiceProvider(), "web").create(
        {"namespace": "prod", "name": "web", "registry": registry_url, "stack": STACK}
    )
    reg.create_endp(Endpoint("theirs", "prod", "web", "10.9.9.9", 99, {"owner": "other"}))
    res = Resource(process, EndpointSetProvider(), "eps")
    three = [
        {"address": "10.0.0.1", "port": 80},
        {"name": "b", "address": "10.0.0.2", "port": 80, "metadata": {"zone": "a"}},
        {"name": "c", "address": "2001:db8::1", "port": 443},
    ]
    outs = res.create(eps_props(registry_url, three))
    derived = endpoint_name("web", "10.0.0.1", 80)
    assert [e["name"] for e in res.inputs["endpoints"]] == [derived, "b", "c"]
    # the state holds each endpoint once: in the inputs; the outputs keep a digest and a count
    assert "endpoints" not in outs and "10.0.0.2" not in repr(outs)
    assert outs["endpoint_count"] == 3 and re.fullmatch(r"[0-9a-f]{64}", outs["endpoints_sha256"])
    assert outs["foreign_endpoints"] == ["theirs"]
    stored = {e.name: e for e in reg.list_endp("prod", "web")}
    assert set(stored) == {derived, "b", "c", "theirs"}
    assert held(stored["b"].metadata) == {"zone": "a", **OURS}
    assert stored["b"].port == 80 and isinstance(stored["b"].port, int)

    # no change → no diff (whatever the order); any changed field of one endpoint is a change;
    # shrinking updates in place and removes only the dropped endpoint
    assert res.diff(eps_props(registry_url, three)).changes == 1  # DIFF_NONE
    assert res.diff(eps_props(registry_url, three[::-1])).changes == 1
    for changed in ({"port": 81}, {"address": "10.0.0.3"}, {"metadata": {"zone": "b"}}):
        moved = [three[0], {**three[1], **changed}, three[2]]
        assert res.diff(eps_props(registry_url, moved)).changes == 2, changed
    diff = res.diff(eps_props(registry_url, three[1:]))
    assert diff.changes == 2 and list(diff.replaces) == []
    res.update(eps_props(registry_url, three[1:]))
    assert {e.name for e in reg.list_endp("prod", "web")} == {"b", "c", "theirs"}

    # drift: an endpoint deleted outside Pulumi disappears from the refreshed state: the
    # refreshed inputs list what is there, the outputs' digest stands for it
    reg.delete_endp("prod", "web", "c")
    read = res.read()
    assert [e["name"] for e in dict(read.inputs)["endpoints"]] == ["b"]
    assert res.outputs["endpoint_count"] == 1 and "endpoints" not in res.outputs
    assert res.diff(eps_props(registry_url, three[1:2])).changes == 1  # what is there: none
    assert res.diff(eps_props(registry_url, three[1:])).changes == 2  # c to write again

    res.delete()
    assert [e.name for e in reg.list_endp("prod", "web")] == ["theirs"]


def test_endpoint_set_refuses_foreign_names_and_bad_input(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    _ensure_ns(process, registry_url)
    Resource(process, ServiceProvider(), "web").create(
        {"namespace": "prod", "name": "web", "registry": registry_url, "stack": STACK}
    )
    reg.create_endp(Endpoint("taken", "prod", "web", "10.9.9.9", 99, {"owner": "other"}))
    res = Resource(process, EndpointSetProvider(), "eps")
    wanted = [
        {"name": "taken", "address": "10.0.0.1", "port": 1},
        {"name": endpoint_name("web", "10.0.0.2", 2), "address": "10.0.0.2", "port": 2},
    ]
    # check (so preview) reads the service's endpoints and refuses the foreign name
    _inputs, failures = res.check(eps_props(registry_url, wanted))
    assert [f for f, _ in failures] == ["endpoints[0].name"], failures
    assert "endpoint prod/web/taken already exists" in failures[0][1]
    with pytest.raises(ProviderError, match="taken"):
        res.create(
            res.checked(eps_props(registry_url, wanted[1:])) | {"endpoints": wanted}, check=False
        )
    assert reg.get_endp("prod", "web", "taken").address == "10.9.9.9"
    # the good one was written: a retry after the foreign one is gone converges
    assert endpoint_name("web", "10.0.0.2", 2) in {e.name for e in reg.list_endp("prod", "web")}

    _inputs, failures = res.check(
        eps_props(
            registry_url,
            [
                {"name": "x", "address": "not-an-ip", "port": 1},
                {"name": "y", "address": "10.0.0.1", "port": 70000},
                {"name": "x", "address": "10.0.0.3", "port": 3},
                "junk",
            ],
        )
    )
    props = [p for p, _ in failures]
    assert "endpoints[0].address" in props
    assert "endpoints[1].port" in props
    assert "endpoints[2].name" in props
    assert "endpoints[3]" in props


def test_registry_from_stack_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = ProviderProcess()
    try:
        url = f"sqlite:///{tmp_path / 'config.db'}"
        proc.configure(
            {
                "servregistry:registry": url,
                "servregistry:ownerKey": "managed-by",
                "servregistry:ownerValue": "platform",
            }
        )
        res = Resource(proc, NamespaceProvider(), "prod")
        outs = res.create({"name": "prod", "stack": STACK})
        assert outs["registry_url"] == url
        with open_registry(url) as reg:  # type: ignore[attr-defined]
            assert held(reg.get_ns("prod").metadata) == {
                "managed-by": "platform",
                "pulumi-stack": STACK,
            }
    finally:
        proc.close()


def _with_connection_option(url: str) -> str:
    """``url`` with one more option that changes how we connect, not where."""
    option = "concurrency=3" if url.startswith("cloudmap") else "timeout=3"
    return url + ("&" if "?" in url else "?") + option
