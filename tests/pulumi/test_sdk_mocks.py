"""Program wiring under ``pulumi.runtime.set_mocks``: type tokens, inputs, the Kubernetes
composition, the example programs; and provider pickling (by reference, no credentials)."""

from __future__ import annotations

import asyncio
import base64
import runpy
from pathlib import Path
from typing import Any

import dill
import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider

import pulumi_servregistry as sr
from servregistry.providers import EndpointSetProvider, NamespaceProvider, ServiceProvider
from tests.pulumi.harness import ProviderProcess, Resource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Recorder(pulumi.runtime.Mocks):
    """Records every registered resource; state = inputs plus what ``outputs`` adds."""

    def __init__(self, outputs: dict[str, dict[str, Any]] | None = None) -> None:
        self.resources: dict[str, pulumi.runtime.MockResourceArgs] = {}
        self.outputs = outputs or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources[args.name] = args
        return f"{args.name}-id", {**args.inputs, **self.outputs.get(args.name, {})}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def mocked(outputs: dict[str, dict[str, Any]] | None = None) -> Recorder:
    # a test before this one may have run asyncio.run(), which leaves this thread without an
    # event loop; pulumi's mocks need one
    asyncio.set_event_loop(asyncio.new_event_loop())
    recorder = Recorder(outputs)
    pulumi.runtime.set_mocks(recorder, project="proj", stack="dev", preview=False)
    return recorder


@pulumi.runtime.test
def test_resources_wire_inputs_and_types() -> pulumi.Output[Any]:
    rec = mocked()
    ns = sr.RegistryNamespace(
        "ns", name="prod", metadata={"team": "core"}, registry=sr.SqliteRegistryArgs("/tmp/r.db")
    )
    serv = sr.RegistryService(
        "web", sr.RegistryServiceArgs(namespace=ns.name, name="web", registry="etcd://h:1/")
    )
    eps = sr.RegistryEndpointSet(
        "eps",
        namespace=ns.name,
        service=serv.name,
        endpoints=[sr.EndpointArgs(address="10.0.0.1", port=80), {"address": "::1", "port": 81}],
        registry=sr.EtcdRegistryArgs(["h:1", "h:2"], prefix="/sr/", timeout=3),
    )

    def verify(_: Any) -> None:
        types = {name: r.typ for name, r in rec.resources.items()}
        assert types == {
            "ns": "pulumi-python:dynamic/servregistry:RegistryNamespace",
            "web": "pulumi-python:dynamic/servregistry:RegistryService",
            "eps": "pulumi-python:dynamic/servregistry:RegistryEndpointSet",
        }
        ns_in = rec.resources["ns"].inputs
        assert ns_in["registry"] == "sqlite:///tmp/r.db"
        assert ns_in["stack"] == "proj_dev"
        assert ns_in["metadata"] == {"team": "core"}
        assert rec.resources["web"].inputs["namespace"] == "prod"
        # each resource's logical name goes with it, for its holder pair (docs/ownership.md)
        assert {n: r.inputs["resource_name"] for n, r in rec.resources.items()} == {
            "ns": "ns",
            "web": "web",
            "eps": "eps",
        }
        eps_in = rec.resources["eps"].inputs
        assert eps_in["registry"] == "etcd://h:1,h:2/?prefix=%2Fsr%2F&timeout=3"
        assert eps_in["endpoints"] == [
            {"address": "10.0.0.1", "port": 80},
            {"address": "::1", "port": 81},
        ]

    return pulumi.Output.all(ns.urn, serv.urn, eps.urn).apply(verify)


def test_args_object_and_keywords_are_exclusive() -> None:
    mocked()
    with pytest.raises(TypeError, match="either"):
        sr.RegistryNamespace("x", sr.RegistryNamespaceArgs(name="x"), name="y")


@pulumi.runtime.test
def test_kubernetes_service_composition() -> pulumi.Output[Any]:
    from pulumi_kubernetes.core.v1 import Service, ServiceSpecArgs
    from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

    status = {"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}, {"hostname": "lb.example.com"}]}}
    rec = mocked({"web": {"status": status}})
    svc = Service(
        "web",
        metadata=ObjectMetaArgs(
            name="web",
            namespace="shop",
            annotations={"cnwan.io/traffic": "standard", "kubectl.io/noise": "x"},
        ),
        spec=ServiceSpecArgs(type="LoadBalancer", ports=[{"port": 443}]),
    )
    reg = sr.KubernetesServiceRegistration(
        "web-reg", service=svc, registry="sqlite:////tmp/k.db", service_annotations=["cnwan.io/*"]
    )

    def verify(values: list[Any]) -> None:
        skipped = values[0]
        assert rec.resources["web-reg-namespace"].inputs["name"] == "shop"
        serv_in = rec.resources["web-reg-service"].inputs
        assert serv_in["name"] == "web"
        assert serv_in["metadata"] == {"cnwan.io/traffic": "standard"}
        eps_in = rec.resources["web-reg-endpoints"].inputs
        from servregistry.model import endpoint_name

        assert eps_in["endpoints"] == [
            {"name": endpoint_name("web", "34.1.2.3", 443), "address": "34.1.2.3", "port": 443}
        ]
        assert eps_in["namespace"] == "shop"
        assert any("lb.example.com" in s for s in skipped)

    return pulumi.Output.all(reg.skipped, reg.endpoint_set.urn).apply(verify)


@pytest.mark.parametrize(
    "example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "__main__.py").exists())
)
def test_example_programs_construct(example: str) -> None:
    rec = mocked()
    pulumi.runtime.set_mocks(rec, project=example, stack="dev", preview=False)

    @pulumi.runtime.test
    def run() -> None:
        runpy.run_path(str(EXAMPLES / example / "__main__.py"), run_name="__main__")

    run()
    assert rec.resources, f"{example} declared no resources"
    for name, res in rec.resources.items():
        if res.typ.startswith("pulumi-python:dynamic/servregistry:"):
            assert res.inputs.get("stack") == f"{example}_dev".lower(), name


@pytest.mark.parametrize("provider", [NamespaceProvider, ServiceProvider, EndpointSetProvider])
def test_providers_pickle_by_reference_without_credentials(provider: type) -> None:
    instance = provider()
    instance._config = {"servregistry:etcdPassword": "s3cret-pw"}  # as after configure()
    raw = base64.b64decode(serialize_provider(instance))
    assert len(raw) < 300
    assert provider.__module__.encode() in raw and provider.__name__.encode() in raw
    assert b"s3cret-pw" not in raw
    assert type(dill.loads(raw)) is provider


def test_configured_secret_never_reaches_state(tmp_path: Path) -> None:
    """The password given as stack config is used by the provider process but never lands in
    the outputs Pulumi stores."""
    proc = ProviderProcess()
    try:
        proc.configure({"servregistry:etcdPassword": "s3cret-pw"})
        res = Resource(proc, NamespaceProvider(), "prod")
        outs = res.create({"name": "prod", "registry": f"sqlite:///{tmp_path / 'r.db'}"})
        assert "s3cret-pw" not in repr(outs)
        assert "s3cret-pw" not in base64.b64decode(outs["__provider"]).decode("latin-1")
    finally:
        proc.close()
