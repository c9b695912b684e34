"""Google Cloud Service Directory as a registry, through the official client.

Mapping: ``projects/P/locations/R/namespaces/NS[/services/S
[/endpoints/E]]``; namespace metadata in labels (whose rules are checked before writing: typical
annotations cannot be labels, and say so); service and endpoint metadata in annotations;
endpoint address and port as native fields, and read back (an unchanged endpoint is never
rewritten).

Every gRPC error maps onto the error tree, list calls included (the pager fetches pages while
iterating). ``timeout`` bounds each call, its retries included: a deadline is a
RegistryTimeoutError; UNAVAILABLE is retried a few times with backoff (``UNAVAILABLE_ATTEMPTS``),
so a registry that cannot be reached is a RegistryUnavailableError within a second or two, as
for the other backends, not after the whole timeout. RESOURCE_EXHAUSTED (the per-minute quota
of registration requests, per project and region) is retried with a longer backoff
(``QUOTA_ATTEMPTS``, ``QUOTA_BACKOFF``), as Cloud Map throttling is; a quota still used up
after that is a RegistryUnavailableError naming the quota and the fix (so an endpoint set stops
instead of having every write wait out its own retries). Endpoint sets reconcile on a bounded
pool.

Objects are read as stored: an endpoint without an address (the API allows one) is listed with
an empty address, and one the model cannot hold becomes an ``unreadable`` placeholder, foreign
by construction, so one odd endpoint never makes its service unreadable. A backend delete never
takes a child with it: deleting a namespace that holds services, or a service that holds
endpoints, is a NotEmptyError (the API itself would delete them all; the Broker removes what is
ours first).

With ``endpoint`` set the client talks to that host without TLS or credentials (the emulator);
without it, Application Default Credentials, whose absence is an error saying how to set them.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial, wraps
from typing import Any

from servregistry import errors
from servregistry.backends.base import (
    BaseRegistry,
    refuse_children,
    run_concurrently,
    writes_not_in_listing,
)
from servregistry.backends.servicedirectory import rules
from servregistry.model import Endpoint, Namespace, RegistryObject, Service
from servregistry.registry import EndpointChanges
from servregistry.urls import ServiceDirectoryUrl

try:
    import grpc
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exceptions
    from google.cloud import servicedirectory_v1 as sd
    from google.cloud.servicedirectory_v1.services.registration_service.transports import (
        RegistrationServiceGrpcTransport,
    )
    from google.protobuf import field_mask_pb2
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise errors.MissingDependencyError(
        "the Service Directory backend needs google-cloud-service-directory: "
        "pip install 'pulumi-servregistry[gcp]'"
    ) from exc

__all__ = ["ServiceDirectoryRegistry"]

#: attempts of a call answered UNAVAILABLE (a refused connection, a server restarting), within
#: the call's timeout; backoff between them starts at 0.2 s and doubles (at most ~1.4 s in all)
UNAVAILABLE_ATTEMPTS = 4
#: attempts of a call answered RESOURCE_EXHAUSTED (a per-minute quota used up), within the
#: call's timeout; backoff between them starts at QUOTA_BACKOFF seconds and doubles up to 16 s,
#: each pause drawn between half and all of that (so concurrent writers spread out)
QUOTA_ATTEMPTS = 6
QUOTA_BACKOFF = 1.0
#: the quota that RESOURCE_EXHAUSTED means for the calls this backend makes, and its fix
QUOTA = "Registration requests per minute per region"
QUOTA_FIX = (
    "run again in a minute, lower the registry's concurrency (?concurrency=N), or ask for a "
    "higher quota (Google Cloud console, IAM & Admin > Quotas, service "
    "servicedirectory.googleapis.com)"
)
#: how to give the client credentials, or do without them
CREDENTIALS_FIX = (
    "set Application Default Credentials (gcloud auth application-default login, or "
    "GOOGLE_APPLICATION_CREDENTIALS=/path/to/service-account-key.json), or point the registry "
    "at the Service Directory emulator with ?endpoint=HOST:PORT (servregistry emulate "
    "servicedirectory)"
)


class ServiceDirectoryRegistry(BaseRegistry):
    """``ServiceDirectoryRegistry(project, region, endpoint=None, concurrency=8, timeout=30)``;
    the client is built on first use."""

    def __init__(
        self,
        project: str,
        region: str,
        *,
        endpoint: str | None = None,
        concurrency: int = 8,
        timeout: float = 30.0,
        page_size: int = 1000,
    ) -> None:
        if not project or not region:
            raise errors.InvalidInputError(
                field="registry", rule="servicedirectory needs a project and a region"
            )
        if concurrency < 1:
            raise errors.InvalidInputError(field="registry.concurrency", rule="must be >= 1")
        self.project, self.region, self.endpoint = project, region, endpoint
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.page_size = page_size
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._client: Any = None
        self._channel: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> ServiceDirectoryRegistry:
        """``servicedirectory://PROJECT/REGION?endpoint=HOST:PORT&concurrency=8&timeout=30``."""
        parsed = ServiceDirectoryUrl.parse(url)
        return cls(
            parsed.project,
            parsed.region,
            endpoint=parsed.endpoint,
            concurrency=parsed.concurrency or 8,
            timeout=parsed.timeout or 30.0,
        )

    def __repr__(self) -> str:
        return f"ServiceDirectoryRegistry({self.project!r}, {self.region!r})"

    @property
    def client(self) -> Any:
        """The RegistrationServiceClient, built on first use."""
        with self._lock:
            if self._client is None:
                if self.endpoint:
                    self._channel = grpc.insecure_channel(self.endpoint)
                    transport = RegistrationServiceGrpcTransport(channel=self._channel)
                    self._client = sd.RegistrationServiceClient(transport=transport)
                else:
                    self._client = sd.RegistrationServiceClient()
            return self._client

    def close(self) -> None:
        with self._lock:
            channel, self._client, self._channel = self._channel, None, None
        if channel is not None:
            channel.close()

    # names ------------------------------------------------------------------------------------

    @property
    def _location(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def _ns(self, ns: str) -> str:
        return f"{self._location}/namespaces/{ns}"

    def _serv(self, ns: str, serv: str) -> str:
        return f"{self._ns(ns)}/services/{serv}"

    def _endp(self, ns: str, serv: str, endp: str) -> str:
        return f"{self._serv(ns, serv)}/endpoints/{endp}"

    def native_id(self, obj: RegistryObject) -> str:
        """The resource name."""
        if isinstance(obj, Namespace):
            return self._ns(obj.name)
        if isinstance(obj, Service):
            return self._serv(obj.ns_name, obj.name)
        return self._endp(obj.ns_name, obj.serv_name, obj.name)

    # validation -------------------------------------------------------------------------------

    def validate(self, obj: RegistryObject) -> None:
        """The API's rules (:mod:`.rules`), so that nothing it would refuse, or silently drop,
        is sent: ids, labels, annotations and the endpoint address."""
        kind = type(obj).__name__.lower()
        problem = rules.check_id(obj.name)
        if problem:
            raise errors.InvalidInputError(field=f"{kind}.name", rule=problem)
        if isinstance(obj, Endpoint):
            problem = rules.check_address(obj.address)
            if problem:
                raise errors.InvalidInputError(field=f"{kind}.address", rule=problem)
        if isinstance(obj, Namespace):
            problem = rules.check_labels(obj.metadata)
            if problem:
                raise errors.InvalidInputError(
                    field=f"{kind}.metadata",
                    rule=f"namespace metadata is stored as labels: {problem}",
                )
            return
        limit = (
            rules.ENDPOINT_ANNOTATIONS_LIMIT
            if isinstance(obj, Endpoint)
            else rules.SERVICE_ANNOTATIONS_LIMIT
        )
        problem = rules.check_annotations(obj.metadata, limit)
        if problem:
            raise errors.InvalidInputError(field=f"{kind}.metadata", rule=problem)

    # calls ------------------------------------------------------------------------------------

    def _call(self, method: str, parent_missing: str | None = None, **kwargs: Any) -> Any:
        """One call under the registry's timeout (its retries included), errors mapped. The
        retry applies to each page of a list call too (the pager calls again with it)."""
        retry = partial(_retried, timeout=self.timeout)
        with self._mapped(parent_missing):
            return getattr(self.client, method)(**kwargs, retry=retry, timeout=self.timeout)

    def _list(self, method: str, parent: str) -> list[Any]:
        with self._mapped(None):
            return list(self._call(method, request={"parent": parent, "page_size": self.page_size}))

    def _mapped(self, parent_missing: str | None) -> AbstractContextManager[None]:
        return _mapped(f"Service Directory ({self.project}/{self.region})", parent_missing)

    # namespaces -------------------------------------------------------------------------------

    def get_ns(self, name: str) -> Namespace:
        _need(name, errors.NamespaceNameNotProvidedError)
        found = self._call("get_namespace", name=self._ns(name))
        return _stored(Namespace, found.name, {}, {"metadata": dict(found.labels)})

    def list_ns(self) -> list[Namespace]:
        found = self._list("list_namespaces", self._location)
        return [_stored(Namespace, n.name, {}, {"metadata": dict(n.labels)}) for n in found]

    def create_ns(self, ns: Namespace) -> Namespace:
        self.validate(ns)
        self._call(
            "create_namespace",
            parent=self._location,
            namespace_id=ns.name,
            namespace=sd.Namespace(labels=ns.metadata),
        )
        return ns

    def update_ns(self, ns: Namespace) -> Namespace:
        self.validate(ns)
        self._call(
            "update_namespace",
            namespace=sd.Namespace(name=self._ns(ns.name), labels=ns.metadata),
            update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
        )
        return ns

    def delete_ns(self, name: str) -> None:
        """Delete an empty namespace; one that holds services is a NamespaceNotEmptyError and
        is kept (the API would delete its services and their endpoints with it)."""
        _need(name, errors.NamespaceNameNotProvidedError)
        services = self._list("list_services", self._ns(name))
        names = [_last(s.name) for s in services]
        refuse_children(f"namespace {name!r}", names, "services", errors.NamespaceNotEmptyError)
        self._call("delete_namespace", name=self._ns(name))

    # services ---------------------------------------------------------------------------------

    def get_serv(self, ns_name: str, serv_name: str) -> Service:
        _need_names(ns_name, serv_name)
        found = self._call("get_service", name=self._serv(ns_name, serv_name))
        return _service(ns_name, found)

    def list_serv(self, ns_name: str) -> list[Service]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        return [_service(ns_name, s) for s in self._list("list_services", self._ns(ns_name))]

    def create_serv(self, serv: Service) -> Service:
        self.validate(serv)
        self._call(
            "create_service",
            parent_missing=f"namespace with name {serv.ns_name} does not exist",
            parent=self._ns(serv.ns_name),
            service_id=serv.name,
            service=sd.Service(annotations=serv.metadata),
        )
        return serv

    def update_serv(self, serv: Service) -> Service:
        self.validate(serv)
        self._call(
            "update_service",
            service=sd.Service(name=self._serv(serv.ns_name, serv.name), annotations=serv.metadata),
            update_mask=field_mask_pb2.FieldMask(paths=["annotations"]),
        )
        return serv

    def delete_serv(self, ns_name: str, serv_name: str) -> None:
        """Delete a service without endpoints; one that holds endpoints is a
        ServiceNotEmptyError and is kept (the API would delete them with it)."""
        _need_names(ns_name, serv_name)
        endpoints = self._list("list_endpoints", self._serv(ns_name, serv_name))
        label = f"service {ns_name}/{serv_name}"
        names = [_last(e.name) for e in endpoints]
        refuse_children(label, names, "endpoints", errors.ServiceNotEmptyError)
        self._call("delete_service", name=self._serv(ns_name, serv_name))

    # endpoints --------------------------------------------------------------------------------

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint:
        _need_names(ns_name, serv_name)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        found = self._call("get_endpoint", name=self._endp(ns_name, serv_name, endp_name))
        return _endpoint(ns_name, serv_name, found)

    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]:
        _need_names(ns_name, serv_name)
        found = self._list("list_endpoints", self._serv(ns_name, serv_name))
        return [_endpoint(ns_name, serv_name, e) for e in found]

    def create_endp(self, endp: Endpoint) -> Endpoint:
        self.validate(endp)
        self._call(
            "create_endpoint",
            parent_missing=f"service with name {endp.serv_name} does not exist",
            parent=self._serv(endp.ns_name, endp.serv_name),
            endpoint_id=endp.name,
            endpoint=sd.Endpoint(address=endp.address, port=endp.port, annotations=endp.metadata),
        )
        return endp

    def update_endp(self, endp: Endpoint) -> Endpoint:
        self.validate(endp)
        self._call(
            "update_endpoint",
            endpoint=sd.Endpoint(
                name=self._endp(endp.ns_name, endp.serv_name, endp.name),
                address=endp.address,
                port=endp.port,
                annotations=endp.metadata,
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["address", "port", "annotations"]),
        )
        return endp

    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None:
        _need_names(ns_name, serv_name)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        self._call("delete_endpoint", name=self._endp(ns_name, serv_name, endp_name))

    def apply_endpoint_changes(
        self, changes: EndpointChanges
    ) -> dict[str, errors.ServiceRegistryError]:
        """Deletes, updates and creates, ``concurrency`` calls at a time; only those the
        listing they were computed from allows (``changes.current``, listed now when not
        given): a write of an endpoint that was not listed, or could not be read, is not sent."""
        current = changes.current
        if current is None:
            current = {e.name: e for e in self.list_endp(changes.ns_name, changes.serv_name)}
        refused = writes_not_in_listing(changes, current)
        tasks: dict[str, Callable[[], object]] = {}
        for name in changes.delete:
            tasks[name] = partial(self.delete_endp, changes.ns_name, changes.serv_name, name)
        for endp in changes.update:
            tasks[endp.name] = partial(self.update_endp, endp)
        for endp in changes.create:
            tasks[endp.name] = partial(self.create_endp, endp)
        label = f"{changes.ns_name}/{changes.serv_name} endpoints"
        allowed = {name: task for name, task in tasks.items() if name not in refused}
        return {**run_concurrently(self.concurrency, allowed, label), **refused}


#: per retried status: attempts, first pause, longest pause
_RETRIED: dict[type[Exception], tuple[int, float, float]] = {
    gexc.ServiceUnavailable: (UNAVAILABLE_ATTEMPTS, 0.2, 2.0),
    gexc.ResourceExhausted: (QUOTA_ATTEMPTS, QUOTA_BACKOFF, 16.0),
}


def _retried(call: Callable[..., Any], *, timeout: float) -> Callable[..., Any]:
    """``call`` retried on UNAVAILABLE and RESOURCE_EXHAUSTED, each with its own attempts and
    backoff (``_RETRIED``), within ``timeout`` seconds of the first attempt. Giving up raises a
    RetryError whose cause is the last failure and whose message says how long it tried."""

    @wraps(call)
    def retried(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        failed: Counter[type[Exception]] = Counter()
        while True:
            try:
                return call(*args, **kwargs)
            except tuple(_RETRIED) as exc:
                status = next(s for s in _RETRIED if isinstance(exc, s))
                failed[status] += 1
                limit, first, longest = _RETRIED[status]
                pause = min(first * 2 ** (failed[status] - 1), longest) * random.uniform(0.5, 1)
                elapsed = time.monotonic() - started
                if failed[status] >= limit or elapsed + pause > timeout:
                    attempts = sum(failed.values())
                    raise gexc.RetryError(
                        f"{attempts} attempt(s) in {elapsed:.1f} s", cause=exc
                    ) from exc
                time.sleep(pause)

    return retried


def _endpoint(ns_name: str, serv_name: str, found: Any) -> Endpoint:
    """An endpoint as stored: without an address (the API allows it) the address is empty."""
    data = {
        "address": found.address,
        "port": int(found.port),
        "metadata": dict(found.annotations),
    }
    return _stored(Endpoint, found.name, {"ns_name": ns_name, "serv_name": serv_name}, data)


def _service(ns_name: str, found: Any) -> Service:
    data = {"metadata": dict(found.annotations)}
    service: Service = _stored(Service, found.name, {"ns_name": ns_name}, data)
    return service


def _stored(cls: type[RegistryObject], name: str, parents: dict[str, str], data: Any) -> Any:
    """``cls.stored`` of what the API returned for resource ``name``; if the model cannot hold
    it, a placeholder marked ``unreadable`` (foreign by construction), never an error that makes
    the whole listing fail."""
    names = {"name": _last(name), **parents}
    try:
        return cls.stored({**names, **data})
    except errors.InvalidInputError as exc:
        return cls.stored(names, unreadable=f"Service Directory {name} cannot be read: {exc}")


def _last(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _need(value: str, error: type[errors.InvalidInputError]) -> None:
    if not value:
        raise error()


def _need_names(ns_name: str, serv_name: str) -> None:
    _need(ns_name, errors.NamespaceNameNotProvidedError)
    _need(serv_name, errors.ServiceNameNotProvidedError)


@contextmanager
def _mapped(where: str, parent_missing: str | None) -> Iterator[None]:
    """google.api_core and google.auth errors → the servregistry error tree (the raw error as
    ``__cause__``), each message naming the registry ``where``; ``parent_missing`` turns
    NOT_FOUND into ParentNotFoundError (on a create)."""
    try:
        yield
    except gexc.NotFound as exc:
        if parent_missing:
            raise errors.ParentNotFoundError(parent_missing) from exc
        raise errors.NotFoundError(f"{where}: {exc.message}") from exc
    except gexc.AlreadyExists as exc:
        raise errors.AlreadyExistsError(f"{where}: {exc.message}") from exc
    except gexc.ServiceUnavailable as exc:
        raise errors.RegistryUnavailableError(f"{where} cannot be reached: {exc.message}") from exc
    except gexc.ResourceExhausted as exc:
        raise _quota_error(where, exc, "") from exc
    except gexc.RetryError as exc:
        if isinstance(exc.cause, gexc.ServiceUnavailable):
            raise errors.RegistryUnavailableError(
                f"{where} cannot be reached: {exc.cause.message} ({exc.message})"
            ) from exc
        if isinstance(exc.cause, gexc.ResourceExhausted):
            raise _quota_error(where, exc.cause, f", still after {exc.message}") from exc
        raise errors.RegistryTimeoutError(f"{where}: {exc}") from exc
    except gexc.DeadlineExceeded as exc:
        raise errors.RegistryTimeoutError(f"{where} did not answer in time: {exc.message}") from exc
    except gexc.InvalidArgument as exc:
        raise errors.InvalidInputError(
            f"{where}: {exc.message}", field="registry", rule=str(exc.message)
        ) from exc
    except (gexc.Unauthenticated, gexc.PermissionDenied) as exc:
        raise errors.BackendError(
            f"{where}: {exc}; check the credentials and their roles on the project, or "
            + CREDENTIALS_FIX
        ) from exc
    except gexc.GoogleAPIError as exc:
        raise errors.BackendError(f"{where}: {exc}") from exc
    except auth_exceptions.DefaultCredentialsError as exc:
        raise errors.BackendError(
            f"{where}: no Google credentials were found: {CREDENTIALS_FIX}"
        ) from exc
    except auth_exceptions.GoogleAuthError as exc:
        raise errors.BackendError(
            f"{where}: the credentials cannot be used ({exc}): {CREDENTIALS_FIX}"
        ) from exc
    except grpc.RpcError as exc:
        raise errors.BackendError(f"{where}: {exc}") from exc
    except UnicodeError as exc:
        raise errors.InvalidInputError(
            field="registry",
            rule=f"{where}: a name or value is not valid Unicode text and cannot be sent ({exc})",
        ) from exc


def _quota_error(where: str, exc: Any, tried: str) -> errors.RegistryUnavailableError:
    """RESOURCE_EXHAUSTED: the per-minute quota is used up; the registry takes no more requests
    for now (a RegistryUnavailableError, so an endpoint set stops early)."""
    return errors.RegistryUnavailableError(
        f"{where}: the quota {QUOTA!r} is used up (RESOURCE_EXHAUSTED: {exc.message}){tried}; "
        + QUOTA_FIX
    )
