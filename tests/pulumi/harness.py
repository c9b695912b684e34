"""Drive the real dynamic-provider process (``python -m pulumi.dynamic``) over gRPC, as the
engine does (docs/architecture.md). Internal pulumi names are used here only:
``_serialize`` and ``serialize_provider`` are what ``Resource.__init__`` calls."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2 as pb
from pulumi.runtime.proto import provider_pb2_grpc

UNKNOWN = rpc.UNKNOWN
PROJECT = "harness"


def pickled(provider: ResourceProvider) -> str:
    """The ``__provider`` string a program would store for ``provider``."""
    value, _secret = _serialize(True, serialize_provider, provider)
    return str(value)


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return asyncio.run(rpc.serialize_properties(props, {}))


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, False))


class ProviderError(Exception):
    """The provider process answered with an error (its message is the Python traceback)."""


class ProviderProcess:
    """One ``python -m pulumi.dynamic`` process and a stub for the resource type ``typ``."""

    def __init__(self) -> None:
        env = {**os.environ, "PULUMI_PROJECT": PROJECT}
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            raise RuntimeError(f"provider did not start: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{int(line)}", options=[("grpc.max_metadata_size", 1 << 20)]
        )
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def close(self) -> str:
        """Stop the process; return what it printed on stderr (warnings)."""
        self.channel.close()
        self.proc.terminate()
        _out, err = self.proc.communicate(timeout=10)
        return err.decode()

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=60)
        except grpc.RpcError as exc:
            raise ProviderError(exc.details()) from None  # type: ignore[attr-defined]

    def configure(self, config: dict[str, str]) -> None:
        self._call("Configure", pb.ConfigureRequest(args=to_struct(config)))


class Resource:
    """One resource's life through the provider, keeping state like the engine does."""

    def __init__(self, process: ProviderProcess, provider: ResourceProvider, name: str) -> None:
        self.process = process
        self.provider = pickled(provider)
        self.urn = f"urn:pulumi:test::{PROJECT}::pulumi-python:dynamic/servregistry:R::{name}"
        self.id = ""
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}

    def _news(self, props: dict[str, Any]) -> struct_pb2.Struct:
        return to_struct({**props, "__provider": self.provider})

    def check(self, props: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        olds = {**self.inputs, "__provider": self.provider} if self.inputs else {}
        resp = self.process._call(
            "Check", pb.CheckRequest(urn=self.urn, olds=to_struct(olds), news=self._news(props))
        )
        failures = [(f.property, f.reason) for f in resp.failures]
        return dict(rpc.deserialize_properties(resp.inputs, True)), failures

    def checked(self, props: dict[str, Any]) -> dict[str, Any]:
        inputs, failures = self.check(props)
        assert not failures, failures
        return {k: v for k, v in inputs.items() if k != "__provider"}

    def diff(self, props: dict[str, Any]) -> pb.DiffResponse:
        """Diff the state against ``props`` after Check, as the engine does."""
        checked, _failures = self.check(props)
        props = {k: v for k, v in checked.items() if k != "__provider"}
        return self.process._call(
            "Diff",
            pb.DiffRequest(
                id=self.id, urn=self.urn, olds=to_struct(self.outputs), news=self._news(props)
            ),
        )

    def create(self, props: dict[str, Any], check: bool = True) -> dict[str, Any]:
        """Check then create, as the engine does; ``check=False`` creates what ``props`` says,
        as when the registry changed between the engine's check and its create."""
        inputs = self.checked(props) if check else props
        resp = self.process._call(
            "Create", pb.CreateRequest(urn=self.urn, properties=self._news(inputs))
        )
        self.id, self.inputs, self.outputs = resp.id, inputs, from_struct(resp.properties)
        return self.outputs

    def update(self, props: dict[str, Any]) -> dict[str, Any]:
        inputs = self.checked(props)
        resp = self.process._call(
            "Update",
            pb.UpdateRequest(
                id=self.id, urn=self.urn, olds=to_struct(self.outputs), news=self._news(inputs)
            ),
        )
        self.inputs, self.outputs = inputs, from_struct(resp.properties)
        return self.outputs

    def read(self) -> pb.ReadResponse:
        resp = self.process._call(
            "Read",
            pb.ReadRequest(
                id=self.id,
                urn=self.urn,
                properties=to_struct(self.outputs),
                inputs=self._news(self.inputs),
            ),
        )
        if resp.id:
            self.outputs = from_struct(resp.properties)
        return resp

    def delete(self) -> None:
        self.process._call(
            "Delete",
            pb.DeleteRequest(id=self.id, urn=self.urn, properties=to_struct(self.outputs)),
        )
