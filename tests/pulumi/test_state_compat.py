"""Stack state written by earlier versions still loads: the ``__provider`` strings in
tests/pulumi/data/provider-state.json were taken from real resources (never edit them), and the
real ``python -m pulumi.dynamic`` process must run every operation with each of them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi.dynamic import ResourceProvider

from servregistry import errors
from servregistry.providers import EndpointSetProvider, NamespaceProvider, ServiceProvider
from servregistry.registry import ServiceRegistry
from tests.pulumi.harness import ProviderProcess, Resource, pickled

STATE = json.loads((Path(__file__).parent / "data" / "provider-state.json").read_text())
PROVIDERS: dict[str, type[ResourceProvider]] = {
    c.__name__: c for c in (NamespaceProvider, ServiceProvider, EndpointSetProvider)
}
STACK = "demo_dev"


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
