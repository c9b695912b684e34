"""A local Google Cloud Service Directory (v1) for tests and offline work.

Google ships no emulator, so this is one: a gRPC server for
``google.cloud.servicedirectory.v1.RegistrationService`` (namespaces, services and endpoints:
create, get, list, update, delete) and ``LookupService.ResolveService``, using the message
types of the official ``google-cloud-service-directory`` package, so the official client talks
to it unchanged::

    python -m servregistry.emulators.servicedirectory --port 9090 [--registration-quota N]
    servregistry emulate servicedirectory --port 9090

Faithful where it matters to a client, each rule as the v1 API reference states it (the
``google.cloud.servicedirectory.v1`` messages; comments below name the field):

- validation with INVALID_ARGUMENT naming the rule (the backend's ``rules`` module: RFC 1035
  ids, label rules, annotation size limits of 2,000 characters per service and 512 per
  endpoint, annotation key syntax, IP addresses, ports, network format); annotations in
  the reserved ``google.com/`` and ``googleapis.com/`` keyspaces are silently dropped, as the
  API does;
- NOT_FOUND (a missing parent too) and ALREADY_EXISTS; cascading deletes;
- pagination (``page_size`` default 100, at most 1,000; opaque ``page_token``);
- update masks: required; mutable fields only (``network`` is immutable on endpoints);
- ``order_by`` on ``name`` (and on ``address`` and ``port`` for endpoints), ``asc``/``desc``,
  several keys separated by commas;
- ``filter`` in the subset :mod:`servregistry.emulators.sd_filter` documents; a field the
  resource does not have matches nothing (an empty list, not an error);
- ``ResolveService.max_endpoints``: below 1 means 25, above 100 means 100;
- quotas: ``set_quota`` limits the requests per project and region in a window (a minute, as the
  API's "Registration requests per minute per region" and "Lookup requests per minute per
  region"); beyond it, RESOURCE_EXHAUSTED.

Not emulated: IAM methods, ``uid`` semantics beyond a generated uid, the ``network`` attach
permission, the resource-count quotas (namespaces, services, endpoints), locations other than
the ones named. Address and port are optional, as in the API: an endpoint without them is stored
with an empty address and port 0. State is in memory and thread-safe; ``latency_ms`` delays
every call (for benchmarks), ``fail_next(method, code, times)`` makes the next calls of one
method fail with a status code (to test a client's retries and error handling), and
``put(message)`` stores an object as given, unvalidated (to stand for what another client
wrote).
"""

from __future__ import annotations

import argparse
import operator
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.cloud import servicedirectory_v1 as sd
from google.protobuf import empty_pb2

from servregistry.backends.servicedirectory import rules
from servregistry.emulators.sd_filter import FilterError, compile_filter

__all__ = ["ServiceDirectoryEmulator", "main", "serve"]

REGISTRATION = "google.cloud.servicedirectory.v1.RegistrationService"
LOOKUP = "google.cloud.servicedirectory.v1.LookupService"
DEFAULT_PAGE, MAX_PAGE = 100, 1000
#: ResolveServiceRequest.max_endpoints: "Defaults to 25. Maximum is 100. If a value less than
#: one is specified, the Default is used. If a value greater than the Maximum is specified, the
#: Maximum is used."
RESOLVE_DEFAULT, RESOLVE_MAX = 25, 100
#: what an update mask may name; every other field of the messages is "Immutable" (name,
#: Endpoint.network) or "Output only" (uid, Service.endpoints)
_MUTABLE: dict[str, tuple[str, ...]] = {
    "namespace": ("labels",),
    "service": ("annotations",),
    "endpoint": ("address", "port", "annotations"),
}
#: the order_by fields of each list call ("<field> allows value: name"; for ListEndpoints
#: "name, address, port")
_ORDER_FIELDS: dict[str, tuple[str, ...]] = {
    "namespace": ("name",),
    "service": ("name",),
    "endpoint": ("name", "address", "port"),
}
#: the quota each method counts against, as the API's quotas page names them
QUOTAS = {
    REGISTRATION: "Registration requests per minute per region",
    LOOKUP: "Lookup requests per minute per region",
}


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _invalid(message: str) -> _Abort:
    return _Abort(grpc.StatusCode.INVALID_ARGUMENT, message)


class ServiceDirectoryEmulator:
    """The emulator's state and handlers; ``start()`` serves it on loopback."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.calls: Counter[str] = Counter()
        self._objects: dict[str, Any] = {}  # resource name -> proto-plus message
        self._faults: dict[str, list[grpc.StatusCode]] = {}  # method -> codes to fail with
        self._quotas: dict[str, tuple[int, float]] = {}  # service -> (limit, window seconds)
        self._usage: dict[tuple[str, str], deque[float]] = {}  # (service, location) -> times
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    # serving ----------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve on ``host:port`` (0: a free port); return the port."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        server.add_generic_rpc_handlers(self._handlers())
        bound = server.add_insecure_port(f"{host}:{port}")
        if not bound:
            raise OSError(f"cannot listen on {host}:{port}")
        server.start()
        self._server, self.port = server, bound
        return bound

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None

    @property
    def server(self) -> grpc.Server:
        assert self._server is not None, "not started"
        return self._server

    def reset(self) -> None:
        with self._lock:
            self._objects.clear()
            self._faults.clear()
            self._quotas.clear()
            self._usage.clear()
        self.calls.clear()

    def set_quota(
        self,
        registration: int | None = None,
        lookup: int | None = None,
        *,
        window: float = 60.0,
    ) -> None:
        """Allow at most ``registration`` RegistrationService requests and ``lookup``
        ResolveService requests per project and region in any ``window`` seconds (a minute by
        default, as the API's per-minute quotas; ``None``: no limit). A request beyond its
        quota fails with RESOURCE_EXHAUSTED, before touching any state, and is not counted."""
        with self._lock:
            self._quotas.clear()
            self._usage.clear()
            for service, limit in ((REGISTRATION, registration), (LOOKUP, lookup)):
                if limit is not None:
                    self._quotas[service] = (limit, window)

    def fail_next(self, method: str, code: grpc.StatusCode, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` (e.g. ``"GetNamespace"``) fail with
        ``code`` before touching any state."""
        with self._lock:
            self._faults.setdefault(method, []).extend([code] * times)

    def clear_faults(self) -> None:
        """Drop the failures ``fail_next`` queued and that have not happened yet."""
        with self._lock:
            self._faults.clear()

    def put(self, message: Any) -> None:
        """Store ``message`` (a Namespace, Service or Endpoint carrying its full resource name)
        as given, without the API's validation: it stands for data another or an older client
        wrote, to test how a reader copes with it."""
        with self._lock:
            self._objects[message.name] = type(message)(message)

    def _fault(self, method: str) -> grpc.StatusCode | None:
        with self._lock:
            pending = self._faults.get(method)
            return pending.pop(0) if pending else None

    def _over_quota(self, service: str, request: Any) -> str | None:
        """Count ``request`` against its quota; the error message if it is used up."""
        with self._lock:
            quota = self._quotas.get(service)
            if quota is None:
                return None
            limit, window = quota
            location = _location_of(request)
            now = time.monotonic()
            used = self._usage.setdefault((service, location), deque())
            while used and used[0] <= now - window:
                used.popleft()
            if len(used) < limit:
                used.append(now)
                return None
        return (
            f"Quota exceeded for quota metric {QUOTAS[service]!r} of service "
            f"'servicedirectory.googleapis.com' for {location} ({limit} per {window:g} s)"
        )

    def _handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        def method(name: str, request: Any, response: Any, fn: Callable[[Any], Any]) -> Any:
            service = LOOKUP if name == "ResolveService" else REGISTRATION
            return grpc.unary_unary_rpc_method_handler(
                self._wrap(service, name, fn),
                request_deserializer=request.deserialize,
                response_serializer=response.serialize,
            )

        empty = _Empty
        registration = {
            "CreateNamespace": method(
                "CreateNamespace", sd.CreateNamespaceRequest, sd.Namespace, self.create_namespace
            ),
            "GetNamespace": method(
                "GetNamespace", sd.GetNamespaceRequest, sd.Namespace, self.get_namespace
            ),
            "ListNamespaces": method(
                "ListNamespaces",
                sd.ListNamespacesRequest,
                sd.ListNamespacesResponse,
                self.list_namespaces,
            ),
            "UpdateNamespace": method(
                "UpdateNamespace", sd.UpdateNamespaceRequest, sd.Namespace, self.update_namespace
            ),
            "DeleteNamespace": method(
                "DeleteNamespace", sd.DeleteNamespaceRequest, empty, self.delete
            ),
            "CreateService": method(
                "CreateService", sd.CreateServiceRequest, sd.Service, self.create_service
            ),
            "GetService": method("GetService", sd.GetServiceRequest, sd.Service, self.get_service),
            "ListServices": method(
                "ListServices", sd.ListServicesRequest, sd.ListServicesResponse, self.list_services
            ),
            "UpdateService": method(
                "UpdateService", sd.UpdateServiceRequest, sd.Service, self.update_service
            ),
            "DeleteService": method("DeleteService", sd.DeleteServiceRequest, empty, self.delete),
            "CreateEndpoint": method(
                "CreateEndpoint", sd.CreateEndpointRequest, sd.Endpoint, self.create_endpoint
            ),
            "GetEndpoint": method(
                "GetEndpoint", sd.GetEndpointRequest, sd.Endpoint, self.get_endpoint
            ),
            "ListEndpoints": method(
                "ListEndpoints",
                sd.ListEndpointsRequest,
                sd.ListEndpointsResponse,
                self.list_endpoints,
            ),
            "UpdateEndpoint": method(
                "UpdateEndpoint", sd.UpdateEndpointRequest, sd.Endpoint, self.update_endpoint
            ),
            "DeleteEndpoint": method(
                "DeleteEndpoint", sd.DeleteEndpointRequest, empty, self.delete
            ),
        }
        lookup = {
            "ResolveService": method(
                "ResolveService",
                sd.ResolveServiceRequest,
                sd.ResolveServiceResponse,
                self.resolve_service,
            )
        }
        return (
            grpc.method_handlers_generic_handler(REGISTRATION, registration),
            grpc.method_handlers_generic_handler(LOOKUP, lookup),
        )

    def _wrap(self, service: str, name: str, fn: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            self.calls[name] += 1
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            fault = self._fault(name)
            if fault is not None:
                context.abort(fault, f"injected failure of {name}")
            exhausted = self._over_quota(service, request)
            if exhausted is not None:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, exhausted)
            try:
                return fn(request)
            except _Abort as exc:
                context.abort(exc.code, str(exc))
            except FilterError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"filter: {exc}")

        return handler

    # shared -----------------------------------------------------------------------------------

    def _get(self, name: str, kind: str) -> Any:
        _check_name(name, kind)
        with self._lock:
            found = self._objects.get(name)
        if found is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"{kind} {name} not found")
        return type(found)(found)

    def _create(self, parent: str, collection: str, child_id: str, message: Any) -> Any:
        kind = collection[:-1]
        if not child_id:
            raise _invalid(f"{kind}_id is required")
        problem = rules.check_id(child_id)
        if problem:
            raise _invalid(f"{kind}_id: {problem}")
        self._validate(kind, message)
        name = f"{parent}/{collection}/{child_id}"
        created = _without_reserved(type(message)(message))
        created.name = name
        created.uid = str(uuid.uuid4())
        with self._lock:
            if collection != "namespaces" and parent not in self._objects:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"parent {parent} not found")
            if name in self._objects:
                raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"{kind} {name} already exists")
            self._objects[name] = created
        return type(created)(created)

    def _update(self, kind: str, request: Any) -> Any:
        message = getattr(request, kind)
        mutable = _MUTABLE[kind]
        # Update*Request.update_mask: "Required. List of fields to be updated in this request."
        paths = list(request.update_mask.paths) if "update_mask" in request else []
        if not paths:
            raise _invalid(
                f"update_mask is required: name the fields to update ({', '.join(mutable)})"
            )
        # Endpoint.network is "Immutable"; name and uid are immutable or output only
        unknown = [p for p in paths if p not in mutable]
        if unknown:
            raise _invalid(
                f"update_mask: {', '.join(unknown)} cannot be updated on a {kind} (immutable "
                f"or output only); updatable: {', '.join(mutable)}"
            )
        current = self._get(message.name, kind)
        for path in paths:
            value = getattr(message, path)
            if path in ("labels", "annotations"):
                target = getattr(current, path)
                target.clear()
                target.update(dict(value))
            else:
                setattr(current, path, value)
        self._validate(kind, current)
        current = _without_reserved(current)
        with self._lock:
            if message.name not in self._objects:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{kind} {message.name} not found")
            self._objects[message.name] = current
        return type(current)(current)

    def delete(self, request: Any) -> _Empty:
        """Delete a namespace, service or endpoint and everything under it."""
        name = request.name
        kind = _kind_of(name)
        _check_name(name, kind)
        with self._lock:
            if name not in self._objects:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{kind} {name} not found")
            for key in [k for k in self._objects if k == name or k.startswith(name + "/")]:
                del self._objects[key]
        return _Empty()

    def _list(self, request: Any, collection: str) -> tuple[list[Any], str]:
        kind = collection[:-1]
        parent = request.parent
        if collection != "namespaces":
            self._get(parent, _kind_of(parent))
        else:
            _check_location(parent)
        prefix = f"{parent}/{collection}/"
        with self._lock:
            items = [
                type(v)(v)
                for k, v in self._objects.items()
                if k.startswith(prefix) and "/" not in k[len(prefix) :]
            ]
        predicate = compile_filter(request.filter, _FILTER_FIELDS[kind])
        items = [i for i in items if predicate(_record(kind, i))]
        _sort(items, request.order_by, _ORDER_FIELDS[kind])
        size = request.page_size or DEFAULT_PAGE
        if size < 0:
            raise _invalid("page_size must not be negative")
        size = min(size, MAX_PAGE)
        start = _page_start(request.page_token, len(items))
        page = items[start : start + size]
        token = str(start + size) if start + size < len(items) else ""
        return page, token

    def _validate(self, kind: str, message: Any) -> None:
        problem = None
        if kind == "namespace":
            problem = rules.check_labels(dict(message.labels))
        elif kind == "service":
            problem = rules.check_annotations(
                dict(message.annotations),
                rules.SERVICE_ANNOTATIONS_LIMIT,
                refuse_reserved=False,
            )
        else:
            problem = (
                rules.check_annotations(
                    dict(message.annotations),
                    rules.ENDPOINT_ANNOTATIONS_LIMIT,
                    refuse_reserved=False,
                )
                or rules.check_address(message.address)
                or rules.check_port(message.port)
                or rules.check_network(message.network)
            )
        if problem:
            raise _invalid(f"{kind}: {problem}")

    # namespaces -------------------------------------------------------------------------------

    def create_namespace(self, request: Any) -> Any:
        _check_location(request.parent)
        return self._create(request.parent, "namespaces", request.namespace_id, request.namespace)

    def get_namespace(self, request: Any) -> Any:
        return self._get(request.name, "namespace")

    def list_namespaces(self, request: Any) -> Any:
        page, token = self._list(request, "namespaces")
        return sd.ListNamespacesResponse(namespaces=page, next_page_token=token)

    def update_namespace(self, request: Any) -> Any:
        return self._update("namespace", request)

    # services ---------------------------------------------------------------------------------

    def create_service(self, request: Any) -> Any:
        self._get(request.parent, "namespace")
        return self._create(request.parent, "services", request.service_id, request.service)

    def get_service(self, request: Any) -> Any:
        return self._get(request.name, "service")

    def list_services(self, request: Any) -> Any:
        page, token = self._list(request, "services")
        return sd.ListServicesResponse(services=page, next_page_token=token)

    def update_service(self, request: Any) -> Any:
        return self._update("service", request)

    # endpoints --------------------------------------------------------------------------------

    def create_endpoint(self, request: Any) -> Any:
        self._get(request.parent, "service")
        return self._create(request.parent, "endpoints", request.endpoint_id, request.endpoint)

    def get_endpoint(self, request: Any) -> Any:
        return self._get(request.name, "endpoint")

    def list_endpoints(self, request: Any) -> Any:
        page, token = self._list(request, "endpoints")
        return sd.ListEndpointsResponse(endpoints=page, next_page_token=token)

    def update_endpoint(self, request: Any) -> Any:
        return self._update("endpoint", request)

    # lookup -----------------------------------------------------------------------------------

    def resolve_service(self, request: Any) -> Any:
        service = self._get(request.name, "service")
        predicate = compile_filter(request.endpoint_filter, _FILTER_FIELDS["endpoint"])
        prefix = f"{request.name}/endpoints/"
        with self._lock:
            endpoints = sorted(
                (type(v)(v) for k, v in self._objects.items() if k.startswith(prefix)),
                key=lambda e: e.name,
            )
        endpoints = [e for e in endpoints if predicate(_record("endpoint", e))]
        limit = request.max_endpoints
        limit = RESOLVE_DEFAULT if limit < 1 else min(limit, RESOLVE_MAX)
        service.endpoints = endpoints[:limit]
        return sd.ResolveServiceResponse(service=service)


class _Empty:
    """google.protobuf.Empty for the handler table (serialize/deserialize like proto-plus)."""

    @staticmethod
    def serialize(_message: Any) -> bytes:
        return empty_pb2.Empty().SerializeToString()

    @staticmethod
    def deserialize(_data: bytes) -> _Empty:
        return _Empty()


def _record(kind: str, message: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"name": message.name}
    if kind == "namespace":
        record["labels"] = dict(message.labels)
    else:
        record["annotations"] = dict(message.annotations)
    if kind == "endpoint":
        record["address"] = message.address
        record["port"] = message.port
    return record


#: the fields a list filter may name, per resource (List*Request.filter: "<field> can be name or
#: labels.<key>" for namespaces, "name or annotations.<key>" for services, "name, address, port,
#: or annotations.<key>" for endpoints)
_FILTER_FIELDS: dict[str, tuple[str, ...]] = {
    "namespace": ("name", "labels"),
    "service": ("name", "annotations"),
    "endpoint": ("name", "address", "port", "annotations"),
}


def _sort(items: list[Any], order_by: str, fields: tuple[str, ...]) -> None:
    """Sort ``items`` in place by ``order_by``: "<field> (<asc|desc>) (,)" (List*Request.
    order_by), each field one of ``fields``; ties, and an empty ``order_by``, by name
    ascending (the API's default order)."""
    keys: list[tuple[str, bool]] = []
    for part in filter(None, (p.strip() for p in order_by.split(","))):
        words = part.split()
        if words[0] not in fields or len(words) > 2 or words[1:] not in ([], ["asc"], ["desc"]):
            raise _invalid(
                f"order_by {order_by!r}: each key is a field ({', '.join(fields)}), "
                "optionally followed by asc or desc, keys separated by commas"
            )
        keys.append((words[0], words[1:] == ["desc"]))
    items.sort(key=lambda i: i.name)
    for field, descending in reversed(keys):
        items.sort(key=operator.attrgetter(field), reverse=descending)


def _page_start(token: str, total: int) -> int:
    if not token:
        return 0
    if not token.isdigit() or int(token) > total:
        raise _invalid(f"page_token {token!r} is not a token this list returned")
    return int(token)


_LOCATION = r"projects/[^/]+/locations/[^/]+"


def _check_location(parent: str) -> None:
    if re.fullmatch(_LOCATION, parent) is None:
        raise _invalid(f"parent {parent!r} must be projects/PROJECT/locations/LOCATION")


def _without_reserved(message: Any) -> Any:
    """``message`` without annotations in the reserved ``(*.)google.com/`` and
    ``(*.)googleapis.com/`` keyspaces: the API silently ignores what a client writes there
    (v1beta1 ``Service.metadata``, which reads and writes the same place as v1 annotations)."""
    if "annotations" in type(message).meta.fields:
        for key in [k for k in message.annotations if rules.reserved(k)]:
            del message.annotations[key]
    return message


def _location_of(request: Any) -> str:
    """``projects/P/locations/L`` of the resource a request is about."""
    names = [getattr(request, field, "") for field in ("parent", "name")]
    for kind in ("namespace", "service", "endpoint"):
        if kind in type(request).meta.fields:
            names.append(getattr(request, kind).name)
    for name in names:
        match = re.match(_LOCATION, name or "")
        if match:
            return match.group(0)
    return "an unknown location"


def _kind_of(name: str) -> str:
    segments = name.split("/")
    return {6: "namespace", 8: "service", 10: "endpoint"}.get(len(segments), "resource")


def _check_name(name: str, kind: str) -> None:
    patterns = {
        "namespace": rf"{_LOCATION}/namespaces/[^/]+",
        "service": rf"{_LOCATION}/namespaces/[^/]+/services/[^/]+",
        "endpoint": rf"{_LOCATION}/namespaces/[^/]+/services/[^/]+/endpoints/[^/]+",
    }
    pattern = patterns.get(kind)
    if pattern is None or re.fullmatch(pattern, name) is None:
        raise _invalid(f"name {name!r} is not a valid {kind} resource name")


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float = 0.0,
    *,
    registration_quota: int | None = None,
    lookup_quota: int | None = None,
) -> tuple[grpc.Server, int]:
    """Start an emulator; return its gRPC server (``stop()``/``wait_for_termination()``) and
    the port it listens on. The quotas are requests per minute per project and region
    (``ServiceDirectoryEmulator.set_quota``); ``None``, the default, is no limit."""
    emulator = ServiceDirectoryEmulator(latency_ms=latency_ms)
    emulator.set_quota(registration_quota, lookup_quota)
    bound = emulator.start(host, port)
    return emulator.server, bound


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Google Service Directory (v1).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay every call")
    parser.add_argument(
        "--registration-quota",
        type=int,
        metavar="N",
        help="RegistrationService requests per minute per project and region (default: no limit)",
    )
    parser.add_argument(
        "--lookup-quota",
        type=int,
        metavar="N",
        help="ResolveService requests per minute per project and region (default: no limit)",
    )
    args = parser.parse_args(argv)
    server, port = serve(
        args.host,
        args.port,
        args.latency_ms,
        registration_quota=args.registration_quota,
        lookup_quota=args.lookup_quota,
    )
    print(port, flush=True)
    print(f"Service Directory emulator on {args.host}:{port}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(0)


if __name__ == "__main__":
    main()
