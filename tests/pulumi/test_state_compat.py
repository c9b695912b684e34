"""Stack state written by earlier versions still loads: the ``__provider`` strings in
tests/pulumi/data/provider-state.json were taken from real resources (never edit them), and the
real ``python -m pulumi.dynamic`` process must run every operation with each of them; the
endpoint set's state of tests/pulumi/data/endpoint-set-state-0.1.0.json (outputs that repeat
the endpoint list, as 0.1.0 wrote them) diffs, refreshes, updates and deletes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic import ResourceProvider

from servregistry import Endpoint, Namespace, Service, errors
from servregistry.providers import EndpointSetProvider, NamespaceProvider, ServiceProvider
from servregistry.registry import ServiceRegistry
from tests.pulumi.harness import ProviderProcess, Resource, pickled

STATE = json.loads((Path(__file__).parent / "data" / "provider-state.json").read_text())
PROVIDERS: dict[str, type[ResourceProvider]] = {
    c.__name__: c for c in (NamespaceProvider, ServiceProvider, EndpointSetProvider)
}
STACK = "demo_dev"
OURS = {"owner": "cnwan-operator", "pulumi-stack": STACK}


@pytest.fixture(scope="module")
def process() -> Iterator[ProviderProcess]:
    proc = ProviderProcess()
    yield proc
    proc.close()


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_state_names_the_pinned_module_path(name: str) -> None:
    written = base64.b64decode(pickled(PROVIDERS[name]()))
    assert b"servregistry.providers\x94" in written, written
    assert b"servregistry.providers." not in written, written
    assert pickled(PROVIDERS[name]()) == STATE["pinned"][name]


@pytest.mark.parametrize("written_by", ["before-pin", "pinned"])
def test_a_stack_written_earlier_still_runs(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry, written_by: str
) -> None:
    common = {"registry": registry_url, "stack": STACK}
    resources = []
    for name, props in (
        ("NamespaceProvider", {"name": "prod"}),
        ("ServiceProvider", {"name": "web", "namespace": "prod"}),
        (
            "EndpointSetProvider",
            {
                "namespace": "prod",
                "service": "web",
                "endpoints": [{"address": "10.0.0.1", "port": 80}],
            },
        ),
    ):
        res = Resource(process, PROVIDERS[name](), f"{name}-{written_by}")
        res.provider = STATE[written_by][name]  # as the stack's state holds it
        outs = res.create({**props, **common})
        assert outs.get("owned", True) is True, outs
        assert res.read().id
        resources.append(res)
    assert [e.address for e in reg.list_endp("prod", "web")] == ["10.0.0.1"]
    for res in reversed(resources):
        res.delete()
    with pytest.raises(errors.NotFoundError):
        reg.get_ns("prod")


OLD_SHAPE = json.loads(
    (Path(__file__).parent / "data" / "endpoint-set-state-0.1.0.json").read_text()
)


def _stage_old_shape(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry, name: str
) -> Resource:
    """The registry and an endpoint set's state as 0.1.0 left them (outputs listing every
    endpoint), read back through the real provider process."""
    recorded = json.loads(json.dumps(OLD_SHAPE).replace("@REGISTRY@", registry_url))
    if not any(n.name == "prod" for n in reg.list_ns()):
        reg.create_ns(Namespace("prod", OURS))
        reg.create_serv(Service("web", "prod", OURS))
    for e in recorded["registered"]:
        reg.create_endp(Endpoint(e["name"], "prod", "web", e["address"], e["port"], e["metadata"]))
    res = Resource(process, EndpointSetProvider(), name)
    res.id, res.inputs = recorded["id"], recorded["inputs"]
    res.outputs = {**recorded["outputs"], "__provider": res.provider}
    return res


def _props(inputs: dict[str, Any], keep: int) -> dict[str, Any]:
    return {**inputs, "endpoints": inputs["endpoints"][:keep]}


def test_an_endpoint_set_state_listing_its_endpoints_still_runs(
    process: ProviderProcess, registry_url: str, reg: ServiceRegistry
) -> None:
    res = _stage_old_shape(process, registry_url, reg, "eps")
    assert "endpoints" in res.outputs  # the old shape
    unchanged, fewer = _props(res.inputs, 3), _props(res.inputs, 2)
    assert res.diff(unchanged).changes == 1  # DIFF_NONE: the digest of the listed endpoints
    assert res.diff(fewer).changes == 2

    # refresh of the old shape: the registry's endpoints as inputs, the new shape as outputs
    old_outputs = dict(res.outputs)
    read = res.read()
    assert [e["name"] for e in dict(read.inputs)["endpoints"]] == ["e1", "e3", "web-26aa47192b"]
    assert "endpoints" not in res.outputs and res.outputs["endpoint_count"] == 3
    assert res.diff(unchanged).changes == 1

    # update from the old shape removes the dropped endpoint and writes the new shape
    res.outputs = old_outputs
    res.update(fewer)
    assert sorted(e.name for e in reg.list_endp("prod", "web")) == ["e1", "web-26aa47192b"]
    assert "endpoints" not in res.outputs and res.outputs["endpoint_count"] == 2
    assert res.diff(fewer).changes == 1 and res.diff(unchanged).changes == 2
    res.delete()
    assert reg.list_endp("prod", "web") == []

    # delete straight from the old shape (a destroy after upgrading the package)
    old = _stage_old_shape(process, registry_url, reg, "eps")
    old.delete()
    assert reg.list_endp("prod", "web") == []
