"""AWS Cloud Map (``servicediscovery``) as a registry, through boto3.

Mapping: HTTP namespaces; HTTP services; namespace and service
metadata as tags; endpoints as instances whose id is the endpoint name, with
``AWS_INSTANCE_IPV4`` (or ``AWS_INSTANCE_IPV6``) and ``AWS_INSTANCE_PORT``, other metadata as
custom attributes. What the API refuses is refused before any write (:mod:`.rules`): names, ids,
attribute and tag limits, ``AWS_*`` metadata keys, zone-scoped addresses, the page size, and an
endpoint set that would leave a service with more than 1,000 instances.

The seed's defects are fixed: metadata converges (removed keys are untagged);
every list paginates; names resolve to ids through a per-process cache, dropped on writes and
misses; asynchronous operations are polled with backoff under an overall deadline, ``FAIL`` and
the deadline being errors, never success; throttling is retried (botocore's standard mode, then
our own rounds with backoff) while a refused connection fails fast. Parents are removed child
first: the Broker deregisters our instances and deletes our services, and the backend never
deregisters an instance or deletes a service it was not asked to, so deleting a service or
namespace that is not empty is a NotEmptyError (as Cloud Map itself answers).

Every instance is listed as stored: one without an IP attribute (valid in an HTTP namespace) has
an empty address, one without a port has port 0, and one we cannot decode at all (a port that is
not a number) becomes a placeholder marked ``unreadable``, foreign by construction. Endpoint sets
register and deregister concurrently (a bounded pool) and await their operations together; each
write is checked against the listing it was computed from (a deregistration only of a listed,
readable instance; a registration, which Cloud Map treats as an upsert, never over an instance
that was not in it). Credentials come from boto3's own chain only; a missing credential, region
or profile is an error that says how to provide it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from servregistry import errors
from servregistry.backends.base import (
    BaseRegistry,
    refuse_children,
    run_concurrently,
    writes_not_in_listing,
)
from servregistry.backends.cloudmap import rules as cloudmap_rules
from servregistry.backends.cloudmap.api import CloudMapApi
from servregistry.backends.cloudmap.rules import IPV4, IPV6, PORT
from servregistry.model import Endpoint, Namespace, RegistryObject, Service
from servregistry.registry import EndpointChanges
from servregistry.urls import CloudMapUrl

__all__ = ["CloudMapRegistry"]

_T = TypeVar("_T")


class CloudMapRegistry(BaseRegistry):
    """``CloudMapRegistry(region, endpoint_url=None, profile=None, concurrency=8,
    operation_timeout=300, page_size=None)``; the boto3 client is built on first use.
    ``page_size`` is the list calls' MaxResults (1-100; None: the API's default, 100)."""

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        concurrency: int = 8,
        operation_timeout: float = 300.0,
        page_size: int | None = None,
    ) -> None:
        if not region:
            raise errors.InvalidInputError(field="registry.region", rule="a region is required")
        if concurrency < 1:
            raise errors.InvalidInputError(field="registry.concurrency", rule="must be >= 1")
        cloudmap_rules.check_page_size(page_size)
        self.region = region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.concurrency = concurrency
        self.operation_timeout = float(operation_timeout)
        self.page_size = page_size
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._api = CloudMapApi(self)
        self._ids: dict[tuple[str, ...], tuple[str, str]] = {}
        self._ids_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> CloudMapRegistry:
        """``cloudmap://REGION?endpoint_url=URL&profile=NAME&concurrency=8&operation_timeout=300``."""
        parsed = CloudMapUrl.parse(url)
        return cls(
            parsed.region,
            endpoint_url=parsed.endpoint_url,
            profile=parsed.profile,
            concurrency=parsed.concurrency or 8,
            operation_timeout=parsed.operation_timeout or 300.0,
        )

    def __repr__(self) -> str:
        return f"CloudMapRegistry({self.region!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def client(self) -> Any:
        """The boto3 ``servicediscovery`` client, built on first use."""
        return self._api.client

    def close(self) -> None:
        self._api.close()

    def validate(self, obj: RegistryObject) -> None:
        cloudmap_rules.validate(obj)

    def native_id(self, obj: RegistryObject) -> str:
        """The namespace or service id (``ns-…``/``srv-…``); for an endpoint ``srv-…/name``."""
        try:
            if isinstance(obj, Namespace):
                return self._ns_ids(obj.name)[0]
            if isinstance(obj, Service):
                return self._serv_ids(obj.ns_name, obj.name)[0]
            return f"{self._serv_ids(obj.ns_name, obj.serv_name)[0]}/{obj.name}"
        except errors.NotFoundError:
            return ""

    # name → id resolution ---------------------------------------------------------------------

    def _cached(self, key: tuple[str, ...], find: Callable[[], tuple[str, str]]) -> tuple[str, str]:
        with self._ids_lock:
            hit = self._ids.get(key)
        if hit is not None:
            return hit
        found = find()
        with self._ids_lock:
            self._ids[key] = found
        return found

    def _forget(self, *key: str) -> None:
        with self._ids_lock:
            for cached in [k for k in self._ids if k[: len(key)] == key]:
                del self._ids[cached]

    def _ns_ids(self, name: str) -> tuple[str, str]:
        def find() -> tuple[str, str]:
            filters = [{"Name": "TYPE", "Values": ["HTTP"], "Condition": "EQ"}]
            if len(name) <= cloudmap_rules.MAX_FILTER_VALUE:  # longer: list and compare
                filters.append({"Name": "NAME", "Values": [name], "Condition": "EQ"})
            for ns in self._api.pages("list_namespaces", "Namespaces", Filters=filters):
                if ns["Name"] == name and ns.get("Type", "HTTP") == "HTTP":
                    return ns["Id"], ns["Arn"]
            raise errors.NotFoundError(f"namespace {name!r} not found")

        return self._cached(("ns", name), find)

    def _serv_ids(self, ns_name: str, serv_name: str) -> tuple[str, str]:
        def find() -> tuple[str, str]:
            for serv in self._services(ns_name):
                if serv["Name"] == serv_name:
                    return serv["Id"], serv["Arn"]
            raise errors.NotFoundError(f"service {ns_name}/{serv_name} not found")

        return self._cached(("serv", ns_name, serv_name), find)

    def _services(self, ns_name: str) -> list[dict[str, Any]]:
        ns_id = self._ns_ids(ns_name)[0]
        filters = [{"Name": "NAMESPACE_ID", "Values": [ns_id], "Condition": "EQ"}]
        found = list(self._api.pages("list_services", "Services", Filters=filters))
        # a server that ignores the filter must not leak other namespaces' services
        return [s for s in found if s.get("NamespaceId", ns_id) == ns_id]

    def _with_ids(self, ns_name: str, action: Callable[[], _T]) -> _T:
        """Run ``action``, which resolves names through the id cache. On NotFound the cached ids
        under ``ns_name`` may be stale (deleted or recreated by another process): forget them
        and run it once more, so the answer is the registry's, not the cache's."""
        try:
            return action()
        except errors.NotFoundError:
            self._forget("ns", ns_name)
            self._forget("serv", ns_name)
            return action()

    # namespaces -------------------------------------------------------------------------------

    def get_ns(self, name: str) -> Namespace:
        _need(name, errors.NamespaceNameNotProvidedError)

        def get() -> Namespace:
            ns_id, arn = self._ns_ids(name)
            self._api.call("get_namespace", Id=ns_id)  # still there under this id?
            return _stored(Namespace, {"name": name, "metadata": self._api.tags(arn)})

        return self._with_ids(name, get)

    def list_ns(self) -> list[Namespace]:
        filters = [{"Name": "TYPE", "Values": ["HTTP"], "Condition": "EQ"}]
        result = []
        for ns in self._api.pages("list_namespaces", "Namespaces", Filters=filters):
            if ns.get("Type", "HTTP") != "HTTP":
                continue
            with self._ids_lock:
                self._ids[("ns", ns["Name"])] = (ns["Id"], ns["Arn"])
            try:
                result.append(
                    _stored(Namespace, {"name": ns["Name"], "metadata": self._api.tags(ns["Arn"])})
                )
            except errors.NotFoundError:
                continue  # deleted while we listed
        return sorted(result, key=lambda n: n.name)

    def create_ns(self, ns: Namespace) -> Namespace:
        self.validate(ns)
        try:
            op = self._api.call(
                "create_http_namespace",
                Name=ns.name,
                CreatorRequestId=uuid.uuid4().hex,
                Tags=_tag_list(ns.metadata),
            )
        except errors.AlreadyExistsError:
            raise errors.AlreadyExistsError(f"namespace {ns.name!r} already exists") from None
        self._api.wait(op["OperationId"])
        self._forget("ns", ns.name)
        return ns

    def update_ns(self, ns: Namespace) -> Namespace:
        self.validate(ns)
        self._with_ids(ns.name, lambda: self._api.set_tags(self._ns_ids(ns.name)[1], ns.metadata))
        return ns

    def delete_ns(self, name: str) -> None:
        """Delete an empty namespace. One that still holds services is a NamespaceNotEmptyError
        and is kept: no service is deleted here (the Broker removes ours first)."""
        _need(name, errors.NamespaceNameNotProvidedError)
        label = f"namespace {name!r}"

        def delete() -> str:
            ns_id, _arn = self._ns_ids(name)
            services = [s["Name"] for s in self._services(name)]
            refuse_children(label, services, "services", errors.NamespaceNotEmptyError)
            with _not_empty(label, errors.NamespaceNotEmptyError):
                return str(self._api.call("delete_namespace", Id=ns_id)["OperationId"])

        operation = self._with_ids(name, delete)
        self._forget("ns", name)
        self._forget("serv", name)
        self._api.wait(operation)

    # services ---------------------------------------------------------------------------------

    def get_serv(self, ns_name: str, serv_name: str) -> Service:
        _need_names(ns_name, serv_name)

        def get() -> Service:
            serv_id, arn = self._serv_ids(ns_name, serv_name)
            self._api.call("get_service", Id=serv_id)  # still there under this id?
            data = {"name": serv_name, "ns_name": ns_name, "metadata": self._api.tags(arn)}
            return _stored(Service, data)

        return self._with_ids(ns_name, get)

    def list_serv(self, ns_name: str) -> list[Service]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        result = []
        for serv in self._with_ids(ns_name, lambda: self._services(ns_name)):
            with self._ids_lock:
                self._ids[("serv", ns_name, serv["Name"])] = (serv["Id"], serv["Arn"])
            try:
                data = {
                    "name": serv["Name"],
                    "ns_name": ns_name,
                    "metadata": self._api.tags(serv["Arn"]),
                }
                result.append(_stored(Service, data))
            except errors.NotFoundError:
                continue
        return sorted(result, key=lambda s: s.name)

    def create_serv(self, serv: Service) -> Service:
        self.validate(serv)
        try:
            ns_id, _arn = self._ns_ids(serv.ns_name)
        except errors.NotFoundError:
            raise errors.ParentNotFoundError(
                f"namespace with name {serv.ns_name} does not exist"
            ) from None
        try:
            self._api.call(
                "create_service",
                Name=serv.name,
                NamespaceId=ns_id,
                Type="HTTP",
                CreatorRequestId=uuid.uuid4().hex,
                Tags=_tag_list(serv.metadata),
            )
        except errors.AlreadyExistsError:
            raise errors.AlreadyExistsError(
                f"service {serv.ns_name}/{serv.name} already exists"
            ) from None
        except errors.NotFoundError:
            self._forget("ns", serv.ns_name)
            raise errors.ParentNotFoundError(
                f"namespace with name {serv.ns_name} does not exist"
            ) from None
        self._forget("serv", serv.ns_name, serv.name)
        return serv

    def update_serv(self, serv: Service) -> Service:
        self.validate(serv)
        self._with_ids(
            serv.ns_name,
            lambda: self._api.set_tags(self._serv_ids(serv.ns_name, serv.name)[1], serv.metadata),
        )
        return serv

    def delete_serv(self, ns_name: str, serv_name: str) -> None:
        """Delete a service without instances. One that still holds instances is a
        ServiceNotEmptyError and is kept: no instance is deregistered here (the Broker
        deregisters ours first, and only those it listed and found to be ours)."""
        _need_names(ns_name, serv_name)
        label = f"service {ns_name}/{serv_name}"
        serv_id = self._with_ids(ns_name, lambda: self._serv_ids(ns_name, serv_name)[0])
        instances = self._api.pages("list_instances", "Instances", ServiceId=serv_id)
        refuse_children(
            label, [i["Id"] for i in instances], "instances", errors.ServiceNotEmptyError
        )
        with _not_empty(label, errors.ServiceNotEmptyError):
            self._api.call("delete_service", Id=serv_id)
        self._forget("serv", ns_name, serv_name)

    # endpoints --------------------------------------------------------------------------------

    def _parent_service(self, ns_name: str, serv_name: str) -> str:
        try:
            return self._with_ids(ns_name, lambda: self._serv_ids(ns_name, serv_name)[0])
        except errors.NotFoundError as exc:
            raise errors.ParentNotFoundError(
                f"service with name {serv_name} does not exist: {exc}"
            ) from None

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint:
        _need_names(ns_name, serv_name)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        instance = self._with_ids(
            ns_name,
            lambda: self._api.call(
                "get_instance",
                ServiceId=self._serv_ids(ns_name, serv_name)[0],
                InstanceId=endp_name,
            ),
        )
        return _endpoint(ns_name, serv_name, instance["Instance"])

    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]:
        _need_names(ns_name, serv_name)
        instances = self._with_ids(
            ns_name,
            lambda: list(
                self._api.pages(
                    "list_instances", "Instances", ServiceId=self._serv_ids(ns_name, serv_name)[0]
                )
            ),
        )
        return sorted((_endpoint(ns_name, serv_name, i) for i in instances), key=lambda e: e.name)

    def create_endp(self, endp: Endpoint) -> Endpoint:
        self.validate(endp)
        serv_id = self._parent_service(endp.ns_name, endp.serv_name)
        if self._instance_exists(serv_id, endp.name):
            raise errors.AlreadyExistsError(f"endpoint {endp.name!r} already exists")
        self._api.wait(self._register(serv_id, endp))
        return endp

    def update_endp(self, endp: Endpoint) -> Endpoint:
        self.validate(endp)
        serv_id = self._parent_service(endp.ns_name, endp.serv_name)
        if not self._instance_exists(serv_id, endp.name):
            raise errors.NotFoundError(f"endpoint {endp.name!r} not found")
        self._api.wait(self._register(serv_id, endp))
        return endp

    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None:
        _need_names(ns_name, serv_name)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        op = self._with_ids(
            ns_name,
            lambda: self._api.call(
                "deregister_instance",
                ServiceId=self._serv_ids(ns_name, serv_name)[0],
                InstanceId=endp_name,
            ),
        )
        self._api.wait(op["OperationId"])

    def _instance_exists(self, serv_id: str, name: str) -> bool:
        try:
            self._api.call("get_instance", ServiceId=serv_id, InstanceId=name)
        except errors.NotFoundError:
            return False
        return True

    def _register(self, serv_id: str, endp: Endpoint) -> str:
        """Start RegisterInstance (an upsert at the API); return its operation id."""
        op = self._api.call(
            "register_instance",
            ServiceId=serv_id,
            InstanceId=endp.name,
            CreatorRequestId=uuid.uuid4().hex,
            Attributes=cloudmap_rules.attributes(endp),
        )
        return str(op["OperationId"])

    def apply_endpoint_changes(
        self, changes: EndpointChanges
    ) -> dict[str, errors.ServiceRegistryError]:
        """Deregister, update and create (RegisterInstance is an upsert) as one round of
        requests, then await their operations together.

        Each write is checked first against the listing the changes were computed from
        (``changes.current``; listed now when not given): only a listed, readable instance is
        deregistered or updated, and a create never lands on a listed instance. A write the
        listing does not allow fails on its own endpoint and is not sent.

        A set that would leave the service with more instances than Cloud Map allows (1,000,
        other owners' included) is refused as a whole before any write (InvalidInputError). A
        set that fits only once its deregistrations are done (a swap at the quota) deregisters
        first, awaits that, then registers."""
        serv_id = self._parent_service(changes.ns_name, changes.serv_name)
        current = changes.current
        if current is None:
            current = {e.name: e for e in self.list_endp(changes.ns_name, changes.serv_name)}
        refused = writes_not_in_listing(changes, current)
        deregister = [n for n in changes.delete if n not in refused]
        register = [e for e in (*changes.update, *changes.create) if e.name not in refused]
        added = {e.name for e in changes.create if e.name not in refused}
        cloudmap_rules.check_instance_count(
            f"service {changes.ns_name}/{changes.serv_name}",
            len(set(current).difference(deregister) | added),
        )
        if len(set(current) | added) > cloudmap_rules.MAX_INSTANCES:
            failures = self._write_instances(serv_id, deregister, ())
            failures.update(self._write_instances(serv_id, (), register))
        else:
            failures = self._write_instances(serv_id, deregister, register)
        failures.update(refused)
        return failures

    def _write_instances(
        self, serv_id: str, deregister: Sequence[str], register: Sequence[Endpoint]
    ) -> dict[str, errors.ServiceRegistryError]:
        """Start every deregistration and registration, ``concurrency`` requests at a time,
        then await all their operations together; return the failures by instance id."""
        started: dict[str, str] = {}  # instance id → operation id

        def deregister_one(name: str) -> None:
            op = self._api.call("deregister_instance", ServiceId=serv_id, InstanceId=name)
            started[name] = str(op["OperationId"])

        def register_one(endp: Endpoint) -> None:
            started[endp.name] = self._register(serv_id, endp)

        tasks: dict[str, Callable[[], object]] = {n: partial(deregister_one, n) for n in deregister}
        tasks.update({e.name: partial(register_one, e) for e in register})
        failures = run_concurrently(self.concurrency, tasks, "registering")
        failures.update(self._api.await_all(started))
        return failures


def _endpoint(ns_name: str, serv_name: str, instance: dict[str, Any]) -> Endpoint:
    """An instance as Cloud Map holds it. The address and port attributes become the address
    and port; every other attribute is metadata (``AWS_*`` ones too: we never write them, so one
    found was written by someone else and is shown as it is, never dropped). Without an IP
    attribute (valid in an HTTP namespace) the address is empty, without a port attribute the
    port is 0; an instance whose port is not a number, or that the model cannot hold, is an
    ``unreadable`` placeholder (foreign)."""
    metadata = dict(instance.get("Attributes") or {})
    ipv4, ipv6, port = metadata.pop(IPV4, ""), metadata.pop(IPV6, ""), metadata.pop(PORT, "0")
    names = {"name": instance["Id"], "ns_name": ns_name, "serv_name": serv_name}
    try:
        number = int(port)
        stored: Endpoint = Endpoint.stored(
            {**names, "address": ipv4 or ipv6, "port": number, "metadata": metadata}
        )
    except ValueError as exc:  # InvalidInputError is one
        reason = f"Cloud Map instance {instance['Id']!r} cannot be read: {exc}"
        unreadable: Endpoint = Endpoint.stored(names, unreadable=reason)
        return unreadable
    return stored


def _stored(cls: type[Namespace] | type[Service], data: dict[str, Any]) -> Any:
    """A namespace or service as stored; a placeholder (``unreadable``) if the model refuses
    what the registry holds."""
    try:
        return cls.stored(data)
    except errors.InvalidInputError as exc:
        names = {k: v for k, v in data.items() if k != "metadata"}
        reason = f"Cloud Map {cls.__name__.lower()} cannot be read: {exc}"
        return cls.stored(names, unreadable=reason)


@contextmanager
def _not_empty(label: str, error: type[errors.NotEmptyError]) -> Iterator[None]:
    """Cloud Map's own "still has children" answer (a child appeared since we listed) as
    ``error``."""
    try:
        yield
    except errors.NotEmptyError as exc:
        raise error(f"{label} is not empty; not deleted: {exc}") from exc


def _tag_list(metadata: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in metadata.items()]


def _need(value: str, error: type[errors.InvalidInputError]) -> None:
    if not value:
        raise error()


def _need_names(ns_name: str, serv_name: str) -> None:
    _need(ns_name, errors.NamespaceNameNotProvidedError)
    _need(serv_name, errors.ServiceNameNotProvidedError)
