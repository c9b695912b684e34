"""The gRPC server of the ``servregistry`` provider plugin (``pulumi-resource-servregistry``).

The engine starts the executable with its own address as the last argument; the plugin prints
the port it listens on and serves ``pulumirpc.ResourceProvider``. Every resource operation is
the matching method of the provider in ``servregistry.providers`` (the very ones behind the
Python resources), called on snake_case property dicts; this module adds only what a native
plugin needs around them:

* the resource's logical name and ``<project>_<stack>`` label come from its URN (the Python
  SDK passes them as inputs);
* ``check`` sorts an endpoint set's endpoints by name and ``diff`` returns a detailed diff
  keyed by endpoint name (``servregistry.native.diff``), against the old inputs (the state's
  outputs keep only a digest of the endpoints; the diff marks those paths as input diffs, so
  the engine shows old values from the old inputs);
* ``read`` without state is an import: the id (``ns``, ``ns/service``) names the object, and
  only an object carrying our owner and stack pairs is imported; another owner's is refused
  with a message saying who owns it;
* an error of ours reaches the CLI as its message alone (a bug keeps its traceback); warnings
  (kept foreign objects) go to the engine's log, attached to the resource.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from concurrent import futures
from importlib import metadata as dist_metadata
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime import proto, rpc
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2_grpc

from servregistry import errors
from servregistry.native.diff import detailed_diff
from servregistry.native.properties import (
    PACKAGE,
    TOKEN_PREFIX,
    Urn,
    camel,
    engine_path,
    input_names,
    schema_text,
    to_engine,
    to_provider,
)
from servregistry.providers import (
    EndpointSetProvider,
    NamespaceProvider,
    ServiceProvider,
    reporting,
)
from servregistry.providers.base import (
    CONFIG_ETCD_PASSWORD,
    CONFIG_OWNER_KEY,
    CONFIG_OWNER_VALUE,
    CONFIG_REGISTRY,
    RegistryProvider,
)

Props = dict[str, Any]
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")

#: provider config key (camelCase, as the engine sends it) → the stack config key it stands for
CONFIG_KEYS = {
    "registry": CONFIG_REGISTRY,
    "ownerKey": CONFIG_OWNER_KEY,
    "ownerValue": CONFIG_OWNER_VALUE,
    "etcdPassword": CONFIG_ETCD_PASSWORD,
}


def _version() -> str:
    try:
        return dist_metadata.version("pulumi-servregistry")
    except dist_metadata.PackageNotFoundError:
        return "0.0.0"


def _served(
    method: Callable[[Any, _Request, grpc.ServicerContext], _Response],
) -> Callable[[Any, _Request, grpc.ServicerContext], _Response]:
    """Serve one request: warnings attached to its resource, our errors as their message."""

    @functools.wraps(method)
    def wrapper(self: Any, request: _Request, context: grpc.ServicerContext) -> _Response:
        try:
            with reporting.serving(str(getattr(request, "urn", "") or "")):
                return method(self, request, context)
        except errors.ServiceRegistryError as exc:
            context.abort(grpc.StatusCode.UNKNOWN, reporting.user_message(exc))
        except Exception:
            context.abort(grpc.StatusCode.INTERNAL, traceback.format_exc())
        raise AssertionError("unreachable: abort raises")

    return wrapper


def _plain(struct: struct_pb2.Struct, keep_unknowns: bool = False) -> Props:
    """A property struct from the engine as a snake_case dict (secrets unwrapped: the plugin
    does not accept secrets, so only the provider config may hold one)."""
    values = rpc.deserialize_properties(struct, keep_unknowns=keep_unknowns)
    return to_provider({k: rpc.unwrap_rpc_secret(v) for k, v in values.items()})


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """A snake_case dict as the engine's camelCase property struct."""
    return asyncio.run(rpc.serialize_properties(to_engine(dict(props)), {}))


class NativeProvider(provider_pb2_grpc.ResourceProviderServicer):
    """``pulumirpc.ResourceProvider`` over the three registry providers."""

    def __init__(self) -> None:
        self._providers: dict[str, RegistryProvider] = {
            f"{TOKEN_PREFIX}RegistryNamespace": NamespaceProvider(),
            f"{TOKEN_PREFIX}RegistryService": ServiceProvider(),
            f"{TOKEN_PREFIX}RegistryEndpointSet": EndpointSetProvider(),
        }
        self._configure_lock = threading.Lock()

    def _provider(self, urn: Urn) -> RegistryProvider:
        provider = self._providers.get(urn.type)
        if provider is None:
            raise errors.InvalidInputError(
                field="type",
                rule=f"unknown resource type {urn.type!r}; {PACKAGE} serves "
                + ", ".join(sorted(self._providers)),
            )
        return provider

    # plugin ----------------------------------------------------------------------------------

    def GetPluginInfo(self, request: empty_pb2.Empty, context: Any) -> proto.PluginInfo:
        return proto.PluginInfo(version=_version())

    def GetSchema(self, request: Any, context: Any) -> Any:
        return proto.GetSchemaResponse(schema=schema_text())

    def CheckConfig(self, request: Any, context: Any) -> Any:
        return proto.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: Any, context: Any) -> Any:
        same = _plain(request.olds) == _plain(request.news)
        changes = proto.DiffResponse.DIFF_NONE if same else proto.DiffResponse.DIFF_SOME
        return proto.DiffResponse(changes=changes)

    @_served
    def Configure(self, request: Any, context: Any) -> Any:
        given = {
            k: rpc.unwrap_rpc_secret(v) for k, v in rpc.deserialize_properties(request.args).items()
        }
        for key, value in request.variables.items():  # "servregistry:config:registry"
            given.setdefault(key.rsplit(":", 1)[-1], value)
        raw = {
            stack_key: str(given[key])
            for key, stack_key in CONFIG_KEYS.items()
            if given.get(key) not in (None, "")
        }
        with self._configure_lock:
            for provider in self._providers.values():
                provider.configure(ConfigureRequest(Config(raw, PACKAGE)))
        return proto.ConfigureResponse(acceptSecrets=False, supportsPreview=False)

    def Cancel(self, request: Any, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    # resources -------------------------------------------------------------------------------

    @_served
    def Check(self, request: Any, context: Any) -> Any:
        urn = Urn.parse(request.urn)
        provider = self._provider(urn)
        identity = {"stack": urn.stack_label, "resource_name": urn.name}
        olds = {**_plain(request.olds, keep_unknowns=True), **identity}
        news = {**_plain(request.news, keep_unknowns=True), **identity}
        result = provider.check(olds, news)
        inputs = dict(result.inputs)
        endpoints = inputs.get("endpoints")
        if isinstance(endpoints, list) and all(
            isinstance(e, Mapping) and isinstance(e.get("name"), str) for e in endpoints
        ):
            inputs["endpoints"] = sorted(endpoints, key=lambda e: e["name"])
        failures = [
            proto.CheckFailure(property=engine_path(f.property), reason=f.reason)
            for f in result.failures
        ]
        return proto.CheckResponse(inputs=_struct(inputs), failures=failures)

    @_served
    def Diff(self, request: Any, context: Any) -> Any:
        urn = Urn.parse(request.urn)
        olds = _plain(request.olds, keep_unknowns=True)
        news = _plain(request.news, keep_unknowns=True)
        result = self._provider(urn).diff(request.id, olds, news)
        if not result.changes:
            return proto.DiffResponse(changes=proto.DiffResponse.DIFF_NONE)
        replaces = list(dict.fromkeys(camel(k) for k in result.replaces or ()))
        shown, from_inputs = to_engine(olds), set[str]()
        if "endpoints" not in shown and request.HasField("old_inputs"):
            # the outputs keep a digest of the endpoints, the old inputs the list itself
            shown["endpoints"] = _plain(request.old_inputs).get("endpoints")
            from_inputs.add("endpoints")
        paths = detailed_diff(shown, to_engine(news), input_names(urn.type), replaces)
        return proto.DiffResponse(
            changes=proto.DiffResponse.DIFF_SOME,
            replaces=replaces,
            deleteBeforeReplace=bool(result.delete_before_replace),
            diffs=sorted({p.split("[", 1)[0] for p in paths}),
            detailedDiff={
                p: proto.PropertyDiff(kind=k, inputDiff=p.split("[", 1)[0] in from_inputs)
                for p, k in paths.items()
            },
            hasDetailedDiff=True,
        )

    @_served
    def Create(self, request: Any, context: Any) -> Any:
        urn = Urn.parse(request.urn)
        result = self._provider(urn).create(_plain(request.properties))
        return proto.CreateResponse(id=result.id, properties=_struct(result.outs or {}))

    @_served
    def Update(self, request: Any, context: Any) -> Any:
        urn = Urn.parse(request.urn)
        result = self._provider(urn).update(request.id, _plain(request.olds), _plain(request.news))
        return proto.UpdateResponse(properties=_struct(result.outs or {}))

    @_served
    def Delete(self, request: Any, context: Any) -> empty_pb2.Empty:
        urn = Urn.parse(request.urn)
        self._provider(urn).delete(request.id, _plain(request.properties))
        return empty_pb2.Empty()

    @_served
    def Read(self, request: Any, context: Any) -> Any:
        urn = Urn.parse(request.urn)
        provider = self._provider(urn)
        props = _plain(request.properties)
        importing = not props
        if importing:
            props = imported(provider, urn, request.id)
        result = provider.read(request.id, props)
        if result.id is None:
            if importing:
                raise errors.NotFoundError(
                    f"cannot import {request.id!r}: no such object in "
                    f"{provider.settings(props).location}"
                )
            return proto.ReadResponse(id="")
        shown = input_names(urn.type)
        inputs = {k: v for k, v in (result.inputs or {}).items() if camel(k) in shown}
        return proto.ReadResponse(
            id=result.id, properties=_struct(result.outs or {}), inputs=_struct(inputs)
        )


def imported(provider: RegistryProvider, urn: Urn, id_: str) -> Props:
    """The properties an import reads with: the object the id names, this stack's identity,
    the registry and owner pair of the provider config. Refuses an object that is not ours
    (naming its owner) before anything is read into the state."""
    parts = id_.split("/")
    names: tuple[str, ...] = ("namespace", "service")
    if isinstance(provider, NamespaceProvider | ServiceProvider):
        names = provider.identity
    if len(parts) != len(names) or not all(parts):
        raise errors.InvalidInputError(
            field="id",
            rule=f"the import id of a {urn.type} is {'/'.join(f'<{n}>' for n in names)}, "
            f"not {id_!r}",
        )
    props: Props = {**dict(zip(names, parts, strict=True))}
    props.update(stack=urn.stack_label, resource_name=urn.name)
    settings = provider.settings(props)
    broker = settings.broker()
    registry = settings.registry()
    if not isinstance(provider, NamespaceProvider | ServiceProvider):
        registry.get_serv(props["namespace"], props["service"])  # NotFoundError: nothing there
        props["endpoints"] = [
            {"name": e.name, "address": e.address, "port": e.port, "metadata": e.metadata}
            for e in registry.list_endp(props["namespace"], props["service"])
            if broker.owns(e)
        ]
        return props
    obj = provider.get(registry, props)
    if not broker.owns(obj):
        raise errors.OwnershipError(
            f"cannot import {provider.kind} {id_!r} from {settings.location}: it is not ours "
            f"({broker.describe_owner(obj)}); only an object carrying this stack's pairs "
            f"({broker.owner.key}={broker.owner.value}, pulumi-stack={urn.stack_label}) can be "
            "imported. Leave it to its owner, or declare another name."
        )
    return props


def main(argv: list[str] | None = None) -> None:
    """Serve the plugin: print the port, then serve until the engine stops the process."""
    args = sys.argv[1:] if argv is None else argv
    engine = next((a for a in reversed(args) if not a.startswith("-")), None)
    if engine:
        reporting.use_engine(engine)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=_GRPC_CHANNEL_OPTIONS)
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(NativeProvider(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(0)


if __name__ == "__main__":
    main()
