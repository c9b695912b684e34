"""The native plugin process (``pulumi-resource-servregistry``) driven over gRPC as the engine
drives it, on a real SQLite registry: the schema it serves, camelCase properties, detailed diffs
keyed by endpoint name, import by id with the ownership rule, and errors as one message."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2 as pb
from pulumi.runtime.proto import provider_pb2_grpc

from servregistry import Endpoint, Namespace, Service, open_registry
from servregistry.broker import Broker
from servregistry.model import MetadataPair
from servregistry.native.properties import schema

NS = "servregistry:index:RegistryNamespace"
SVC = "servregistry:index:RegistryService"
EPS = "servregistry:index:RegistryEndpointSet"
STACK_LABEL = "proj_dev"


def urn(token: str, name: str) -> str:
    return f"urn:pulumi:dev::proj::{token}::{name}"


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return asyncio.run(rpc.serialize_properties(props, {}))


def plain(value: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(value, False))


class Plugin:
    """One plugin process (started as the engine starts it) and a stub to it."""

    def __init__(self, registry_url: str) -> None:
        # installed with the package, beside this Python
        exe = shutil.which("pulumi-resource-servregistry", path=str(Path(sys.executable).parent))
        assert exe, "pulumi-resource-servregistry is not installed (scripts/bootstrap)"
        self.proc = subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.stub.Configure(pb.ConfigureRequest(args=struct({"registry": registry_url})))

    def check(self, token: str, name: str, news: dict[str, Any]) -> pb.CheckResponse:
        return self.stub.Check(
            pb.CheckRequest(urn=urn(token, name), olds=struct({}), news=struct(news))
        )

    def create(self, token: str, name: str, news: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        checked = self.check(token, name, news)
        assert not checked.failures, checked.failures
        done = self.stub.Create(pb.CreateRequest(urn=urn(token, name), properties=checked.inputs))
        return done.id, plain(done.properties)

    def close(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def plugin(sqlite_registry_url: str) -> Iterator[Plugin]:
    started = Plugin(sqlite_registry_url)
    yield started
    started.close()


def test_schema_describes_every_property_and_marks_replacements() -> None:
    served = schema()
    for token, resource in served["resources"].items():
        for kind in ("inputProperties", "properties"):
            for name, prop in resource[kind].items():
                assert prop.get("description"), f"{token}.{kind}.{name} has no description"
        replacing = {n for n, p in resource["inputProperties"].items() if p.get("replaceOnChanges")}
        identity = {"name"} if token == NS else {"namespace", "name"} if token == SVC else set()
        if token == EPS:
            identity = {"namespace", "service"}
        assert replacing == identity | {"registry", "ownerKey", "ownerValue"}, token
    assert served["config"]["variables"]["etcdPassword"]["secret"] is True


def test_get_schema_serves_the_checked_in_schema(plugin: Plugin) -> None:
    served = json.loads(plugin.stub.GetSchema(pb.GetSchemaRequest()).schema)
    assert served == schema()
    version = plugin.stub.GetPluginInfo(empty_pb2.Empty()).version
    assert served["version"] == version == metadata.version("pulumi-servregistry")
    assert set(served["resources"]) == {NS, SVC, EPS}


def test_lifecycle_in_camel_case_with_keyed_diff(plugin: Plugin, sqlite_registry_url: str) -> None:
    ns_id, ns_out = plugin.create(NS, "ns", {"name": "payments", "forceDelete": True})
    assert ns_id == "payments"
    assert ns_out["registryUrl"] == sqlite_registry_url and ns_out["owned"] is True
    assert ns_out["stack"] == STACK_LABEL and ns_out["forceDelete"] is True
    plugin.create(SVC, "svc", {"namespace": "payments", "name": "api"})
    endpoints = [{"name": f"e{i}", "address": f"10.0.0.{i}", "port": 80 + i} for i in (4, 2, 1, 3)]
    news = {"namespace": "payments", "service": "api", "endpoints": endpoints}
    eps_id, outs = plugin.create(EPS, "eps", news)
    assert eps_id == "payments/api"
    # the state holds the endpoints once, in the inputs (sorted by check); outputs a digest
    old_inputs = plugin.check(EPS, "eps", news).inputs
    assert [e["name"] for e in plain(old_inputs)["endpoints"]] == ["e1", "e2", "e3", "e4"]
    assert "endpoints" not in outs and outs["endpointCount"] == 4
    assert outs["foreignEndpoints"] == [] and outs["endpointErrors"] == {}
    # outputs written by earlier releases listed the endpoints: their diff is the same
    listed = {**outs, "endpoints": plain(old_inputs)["endpoints"]}
    del listed["endpointsSha256"], listed["endpointCount"]

    def diff_with(news: pb.CheckResponse, old_outputs: dict[str, Any]) -> dict[str, Any]:
        """The detailed diff as (kind, whether its old value is in the old inputs), by path."""
        diff = plugin.stub.Diff(
            pb.DiffRequest(
                id=eps_id,
                urn=urn(EPS, "eps"),
                olds=struct(old_outputs),
                old_inputs=old_inputs,
                news=news.inputs,
            )
        )
        assert list(diff.replaces) == []
        return {k: (v.kind, v.inputDiff) for k, v in diff.detailedDiff.items()}

    # removing the 2nd of 4 (by name) is one deletion, at its place in the state
    fewer = plugin.check(
        EPS, "eps", {**news, "endpoints": [e for e in endpoints if e["name"] != "e2"]}
    )
    assert diff_with(fewer, outs) == {"endpoints[1]": (pb.PropertyDiff.DELETE, True)}
    assert diff_with(fewer, listed) == {"endpoints[1]": (pb.PropertyDiff.DELETE, False)}
    # a changed port is an update of that endpoint only; the same inputs are no change
    moved = [{**e, "port": 9000} if e["name"] == "e3" else e for e in endpoints]
    checked = plugin.check(EPS, "eps", {**news, "endpoints": moved})
    assert diff_with(checked, outs) == {"endpoints[2]": (pb.PropertyDiff.UPDATE, True)}
    assert diff_with(checked, listed) == {"endpoints[2]": (pb.PropertyDiff.UPDATE, False)}
    same = plugin.check(EPS, "eps", news)
    assert diff_with(same, outs) == diff_with(same, listed) == {}

    # a new namespace name replaces, shown as such
    renamed = plugin.check(NS, "ns", {"name": "billing"})
    diff = plugin.stub.Diff(
        pb.DiffRequest(id=ns_id, urn=urn(NS, "ns"), olds=struct(ns_out), news=renamed.inputs)
    )
    assert list(diff.replaces) == ["name"]
    assert diff.detailedDiff["name"].kind == pb.PropertyDiff.UPDATE_REPLACE

    plugin.stub.Delete(pb.DeleteRequest(id=eps_id, urn=urn(EPS, "eps"), properties=struct(outs)))
    reg = open_registry(sqlite_registry_url)
    assert reg.list_endp("payments", "api") == []
    reg.close()


def test_check_failures_name_camel_case_fields(plugin: Plugin) -> None:
    checked = plugin.check(
        EPS,
        "eps",
        {
            "namespace": "payments",
            "service": "api",
            "ownerKey": "",
            "endpoints": [{"address": "10.0.0.1", "port": 70000}],
        },
    )
    failures = {f.property: f.reason for f in checked.failures}
    assert set(failures) == {"ownerKey", "endpoints[0].port"}, failures
    assert "65535" in failures["endpoints[0].port"]


def test_import_takes_ours_and_refuses_foreign(plugin: Plugin, sqlite_registry_url: str) -> None:
    reg = open_registry(sqlite_registry_url)
    ours = Broker(
        reg,
        owner=MetadataPair("owner", "cnwan-operator"),
        stack=MetadataPair("pulumi-stack", STACK_LABEL),
    )
    ours.manage_ns(Namespace("shop", {"team": "shop"}))
    ours.manage_serv(Service("web", "shop"))
    ours.manage_serv_endps("shop", "web", [Endpoint("web-1", "shop", "web", "10.0.0.1", 80)])
    reg.create_endp(Endpoint("other-1", "shop", "web", "10.0.0.2", 80, {"owner": "other"}))
    reg.create_ns(Namespace("legacy", {"owner": "someone-else"}))

    read = plugin.stub.Read(pb.ReadRequest(id="shop", urn=urn(NS, "shop")))
    assert read.id == "shop"
    assert plain(read.inputs) == {"name": "shop", "metadata": {"team": "shop"}}
    assert plain(read.properties)["owned"] is True

    # an endpoint set imports our endpoints of the service and lists the others as foreign
    read = plugin.stub.Read(pb.ReadRequest(id="shop/web", urn=urn(EPS, "web-eps")))
    outs = plain(read.properties)
    assert [e["name"] for e in plain(read.inputs)["endpoints"]] == ["web-1"]
    assert "endpoints" not in outs and outs["endpointCount"] == 1
    assert outs["foreignEndpoints"] == ["other-1"] and outs["nativeId"]

    with pytest.raises(grpc.RpcError) as refused:
        plugin.stub.Read(pb.ReadRequest(id="legacy", urn=urn(NS, "legacy")))
    message = refused.value.details()
    assert "cannot import namespace 'legacy'" in message and "someone-else" in message
    assert "Traceback" not in message

    with pytest.raises(grpc.RpcError) as malformed:
        plugin.stub.Read(pb.ReadRequest(id="shop", urn=urn(SVC, "web")))
    assert "<namespace>/<name>" in malformed.value.details()
    reg.close()
