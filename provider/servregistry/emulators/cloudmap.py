"""AWS Cloud Map on loopback: moto's server (``moto[server]``), made at least as strict as the
Cloud Map API, with dummy credentials.

moto 5 is kinder than AWS in many ways; a stand-in that accepts what AWS refuses lets a bug
pass every test and fail on the first real ``up``. :func:`make_aws_faithful` patches it before
it serves, each patch reproducing a rule of the Cloud Map API reference (the ``servicediscovery``
service model botocore ships, whose documentation is the API reference's text) or of the Cloud
Map quotas page:

* every request is checked against the API model's constraints (lengths, patterns, ranges,
  enums, required members) and refused with ``InvalidInput``, as Cloud Map does: namespace,
  service and instance names, attribute and tag lengths, ``MaxResults`` 1-100, ...;
* ``RegisterInstance``: at most 30 custom attributes, at most 5,000 characters of keys and values
  of all attributes, an address attribute must hold an address, at most 1,000 instances per
  service (``ResourceLimitExceeded``), and an existing instance id is updated, not duplicated;
  registrations and deregistrations are serialised (moto's own would lose instances when sent
  concurrently);
* at most 50 tags per resource (``TooManyTagsException``); tag keys starting ``aws:`` refused;
  tags of a resource that does not exist are ``ResourceNotFoundException``;
* a second namespace or service of one name is ``NamespaceAlreadyExists`` /
  ``ServiceAlreadyExists``; a service in a namespace that does not exist, ``NamespaceNotFound``;
* ``DeleteService`` of a service with instances and ``DeleteNamespace`` of a namespace with
  services are ``ResourceInUse``; ``DeleteService`` of a missing service, ``ServiceNotFound``;
* ``ListNamespaces``, ``ListServices`` and ``ListInstances`` apply ``Filters`` (the names and
  conditions the API supports, one value each), ``MaxResults`` (default and most 100) and
  ``NextToken``.

The patches change moto's classes in this process, so the server must run in it (moto's
``ThreadedMotoServer``, as :class:`MotoServer` does). Used by the tests, the benchmarks and
``servregistry emulate cloudmap``. What the stand-in still cannot reproduce is listed in the
README's Limits section.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from servregistry.emulators import EmulatorError, LocalServer
from servregistry.emulators.ports import free_port

__all__ = ["DUMMY_CREDENTIALS", "MAX_INSTANCES", "MAX_TAGS", "MotoServer", "make_aws_faithful"]

#: what boto3 needs to sign requests to moto (moto accepts any keys)
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: Cloud Map quotas page: "Instances per service: 1,000", not adjustable
MAX_INSTANCES = 1000
#: TooManyTagsException: "The maximum number of tags that can be applied to a resource is 50"
MAX_TAGS = 50
#: RegisterInstance, Attributes: "You can add up to 30 custom attributes" ...
MAX_CUSTOM_ATTRIBUTES = 30
#: ... "The total size of all provided attributes (sum of all keys and values) must not exceed
#: 5,000 characters"
MAX_ATTRIBUTE_CHARS = 5000
#: RegisterInstance, Attributes: "the following are the supported attribute keys"; any other key
#: is a custom attribute
SUPPORTED_ATTRIBUTES = frozenset(
    {
        "AWS_ALIAS_DNS_NAME",
        "AWS_EC2_INSTANCE_ID",
        "AWS_INIT_HEALTH_STATUS",
        "AWS_INSTANCE_CNAME",
        "AWS_INSTANCE_IPV4",
        "AWS_INSTANCE_IPV6",
        "AWS_INSTANCE_PORT",
    }
)
#: ListNamespaces and ListServices: the filter names, and the conditions each supports
#: (NamespaceFilter/ServiceFilter.Condition: "EQ is supported for TYPE, NAME, RESOURCE_OWNER and
#: HTTP_NAME", "BEGINS_WITH is supported for TYPE, NAME, and HTTP_NAME"; services: EQ only)
_NAMESPACE_FILTERS = {
    "TYPE": {"EQ", "BEGINS_WITH"},
    "NAME": {"EQ", "BEGINS_WITH"},
    "HTTP_NAME": {"EQ", "BEGINS_WITH"},
    "RESOURCE_OWNER": {"EQ"},
}
_SERVICE_FILTERS = {"NAMESPACE_ID": {"EQ"}, "RESOURCE_OWNER": {"EQ"}}
#: ListNamespaces/ListServices/ListInstances, MaxResults: "If you don't specify a value for
#: MaxResults, Cloud Map returns up to 100"
DEFAULT_PAGE = 100


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _invalid(message: str) -> Exception:
    return _error("InvalidInput", message)


def _patch(cls: type, name: str, rule: str, make: Callable[[Any], Callable[..., Any]]) -> None:
    """Replace ``cls.name`` by ``make(original)`` for ``rule``, once: the patched method
    carries the rules it applies, so a second call finds ``rule`` there and does nothing."""
    original = getattr(cls, name)
    applied: frozenset[str] = getattr(original, "aws_faithful", frozenset())
    if rule in applied:
        return
    patched = make(original)
    patched.aws_faithful = applied | {rule}  # type: ignore[attr-defined]
    setattr(cls, name, patched)


# the API model's constraints --------------------------------------------------------------------


@cache
def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("servicediscovery")


def _length(value: str) -> int:
    """A string's length as the API counts it (UTF-16 code units, as Java does)."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _violations(shape: Any, value: Any, path: str) -> Iterator[str]:
    """Each way ``value`` breaks the constraints of the model ``shape`` (min, max, pattern,
    enum, required members), in the words Cloud Map's own validation uses."""
    meta = shape.metadata
    kind = shape.type_name
    where = path or "request"
    if kind == "structure":
        if not isinstance(value, dict):
            yield f"Value at '{where}' must be an object"
            return
        for name in getattr(shape, "required_members", []):
            if value.get(name) is None:
                yield f"Value null at '{(path + '.' if path else '') + name}' must not be null"
        for name, member in shape.members.items():
            if value.get(name) is not None:
                yield from _violations(member, value[name], f"{path}.{name}" if path else name)
        return
    size: int | None = None
    if kind == "list" and isinstance(value, list):
        size = len(value)
        for index, item in enumerate(value):
            yield from _violations(shape.member, item, f"{where}.{index + 1}.member")
    elif kind == "map" and isinstance(value, dict):
        size = len(value)
        for key, item in value.items():
            yield from _violations(shape.key, key, f"{where}.key[{key}]")
            yield from _violations(shape.value, item, f"{where}.value[{key}]")
    elif kind == "string" and isinstance(value, str):
        size = _length(value)
        pattern = meta.get("pattern")
        if pattern is not None and re.fullmatch(pattern, value) is None:
            yield (
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy "
                f"regular expression pattern: {pattern}"
            )
        if "enum" in meta and value not in meta["enum"]:
            yield (
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy "
                f"enum value set: {meta['enum']}"
            )
    elif kind in ("integer", "long") and isinstance(value, int):
        if value < meta.get("min", value) or value > meta.get("max", value):
            yield (
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have "
                f"value between {meta.get('min')} and {meta.get('max')}"
            )
        return
    if size is not None and (size < meta.get("min", 0) or size > meta.get("max", size)):
        unit = "length" if kind == "string" else "size"
        yield (
            f"Value at '{where}' failed to satisfy constraint: Member must have {unit} between "
            f"{meta.get('min', 0)} and {meta.get('max')}"
        )


def _check_requests_against_the_model() -> None:
    """Every Cloud Map call's input is checked against the API model, as Cloud Map does
    (InvalidInput: "a numeric value might be outside the allowed range, or a string value might
    exceed length constraints"); moto checks none of it. This is where namespace names
    (``^(?!arn:)[!-~]{1,1024}$``), service names, instance ids, attribute keys (255) and values
    (1,024, their pattern), tag keys (128) and values (256) and ``MaxResults`` (1-100) are
    refused."""
    from moto.core.utils import camelcase_to_underscores
    from moto.servicediscovery import responses

    cls = responses.ServiceDiscoveryResponse
    model = _service_model()
    for operation in model.operation_names:
        name = camelcase_to_underscores(operation)
        if not hasattr(cls, name):
            continue
        shape = model.operation_model(operation).input_shape

        def make(original: Any, shape: Any = shape) -> Callable[..., Any]:
            def checked(self: Any) -> Any:
                problems = list(_violations(shape, json.loads(self.body or "{}"), ""))
                if problems:
                    count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
                    raise _invalid(f"{count} detected: {'; '.join(problems)}")
                return original(self)

            return checked

        _patch(cls, name, "model", make)


# instances -------------------------------------------------------------------------------------


def _check_attributes(attributes: dict[str, str]) -> None:
    """RegisterInstance, Attributes: at most 30 custom attributes; at most 5,000 characters of
    keys and values of *all* attributes; AWS_INSTANCE_IPV4 "the IPv4 address", AWS_INSTANCE_IPV6
    "the IPv6 address" that Route 53 returns in DNS answers, where a zone (``%eth0``) has no
    place (whether Cloud Map checks the addresses of an HTTP namespace is not documented: here
    they are checked, so the stand-in is the stricter)."""
    custom = [key for key in attributes if key not in SUPPORTED_ATTRIBUTES]
    if len(custom) > MAX_CUSTOM_ATTRIBUTES:
        raise _invalid(
            f"{len(custom)} custom attributes: an instance can have at most {MAX_CUSTOM_ATTRIBUTES}"
        )
    total = sum(len(k) + len(v) for k, v in attributes.items())
    if total > MAX_ATTRIBUTE_CHARS:
        raise _invalid(
            f"the total size of all attributes is {total} characters: it must not exceed "
            f"{MAX_ATTRIBUTE_CHARS}"
        )
    for key, parse in (
        ("AWS_INSTANCE_IPV4", ipaddress.IPv4Address),
        ("AWS_INSTANCE_IPV6", ipaddress.IPv6Address),
    ):
        value = attributes.get(key)
        if value is None:
            continue
        try:
            address = parse(value)
        except ValueError:
            raise _invalid(f"{key} {value!r} is not a valid address") from None
        if getattr(address, "scope_id", None):
            raise _invalid(f"{key} {value!r}: an address with a zone is not valid")


#: moto changes a service's instance list without a lock, and the RegisterInstance below replaces
#: the list: concurrent registrations and deregistrations (an endpoint set's pool) would lose
#: instances, which Cloud Map never does. This lock serialises them.
_INSTANCE_WRITES = threading.Lock()


def _register_instances_faithfully() -> None:
    """RegisterInstance: "If the instance already exists, RegisterInstance updates it" (moto 5
    appends a duplicate); the attribute rules of :func:`_check_attributes`; a new instance in a
    service holding 1,000 is ResourceLimitExceeded (quotas page: "Instances per service: 1,000",
    not adjustable)."""
    from moto.servicediscovery import models

    def make(original: Any) -> Callable[..., Any]:
        def register_instance(self: Any, service_id: str, instance_id: str, **kwargs: Any) -> str:
            service = self.get_service(service_id)
            _check_attributes(kwargs.get("attributes") or {})
            with _INSTANCE_WRITES:
                kept = [i for i in service.instances if i.instance_id != instance_id]
                if len(kept) == len(service.instances) and len(kept) >= MAX_INSTANCES:
                    raise _error(
                        "ResourceLimitExceeded",
                        f"service {service_id} already has {len(kept)} instances: the quota is "
                        f"{MAX_INSTANCES} instances per service",
                    )
                service.instances = kept
                return str(original(self, service_id=service_id, instance_id=instance_id, **kwargs))

        return register_instance

    def make_deregister(original: Any) -> Callable[..., Any]:
        def deregister_instance(self: Any, *args: Any, **kwargs: Any) -> str:
            with _INSTANCE_WRITES:
                return str(original(self, *args, **kwargs))

        return deregister_instance

    _patch(models.ServiceDiscoveryBackend, "register_instance", "register", make)
    _patch(models.ServiceDiscoveryBackend, "deregister_instance", "serialised", make_deregister)


# tags ------------------------------------------------------------------------------------------


def _resource_exists(backend: Any, arn: str) -> bool:
    return any(r.arn == arn for r in (*backend.namespaces.values(), *backend.services.values()))


def _check_new_tags(backend: Any, arn: str | None, tags: list[dict[str, str]] | None) -> None:
    """Tags for the resource ``arn`` (None: one being created). TooManyTagsException: "The
    maximum number of tags that can be applied to a resource is 50"; tag keys starting ``aws:``
    are reserved for AWS's use (TagResource: InvalidInput)."""
    tags = tags or []
    for tag in tags:
        if str(tag.get("Key", "")).lower().startswith("aws:"):
            raise _invalid(f"tag key {tag['Key']!r}: keys starting aws: are reserved")
    current = backend.tagger.get_tag_dict_for_resource(arn) if arn else {}
    keys = set(current) | {t["Key"] for t in tags}
    if len(keys) > MAX_TAGS:
        raise _error(
            "TooManyTagsException",
            f"{arn} would have {len(keys)} tags: the maximum number of tags that can be applied "
            f"to a resource is {MAX_TAGS}",
        )


def _tag_faithfully() -> None:
    """TagResource/UntagResource/ListTagsForResource of a resource that does not exist are
    ResourceNotFoundException (moto tags any ARN); tagging checks :func:`_check_new_tags`."""
    from moto.servicediscovery import models

    cls = models.ServiceDiscoveryBackend

    def require(backend: Any, arn: str) -> None:
        if not _resource_exists(backend, arn):
            raise _error("ResourceNotFoundException", f"resource {arn} not found")

    def make_tag(original: Any) -> Callable[..., Any]:
        def tag_resource(self: Any, resource_arn: str, tags: list[dict[str, str]]) -> None:
            require(self, resource_arn)
            _check_new_tags(self, resource_arn, tags)
            original(self, resource_arn, tags)

        return tag_resource

    def make_guarded(original: Any) -> Callable[..., Any]:
        def guarded(self: Any, resource_arn: str, **kwargs: Any) -> Any:
            require(self, resource_arn)
            return original(self, resource_arn=resource_arn, **kwargs)

        return guarded

    _patch(cls, "tag_resource", "tags", make_tag)
    _patch(cls, "untag_resource", "tags", make_guarded)
    _patch(cls, "list_tags_for_resource", "tags", make_guarded)


# namespaces and services -----------------------------------------------------------------------


def _create_faithfully() -> None:
    """CreateHttpNamespace of a name in use is NamespaceAlreadyExists; CreateService of a name
    in use in its namespace is ServiceAlreadyExists, in a namespace that does not exist
    NamespaceNotFound (moto creates duplicates and orphans); both check their tags
    (:func:`_check_new_tags`: TooManyTagsException)."""
    from moto.servicediscovery import models

    cls = models.ServiceDiscoveryBackend

    def make_ns(original: Any) -> Callable[..., Any]:
        def create_http_namespace(self: Any, name: str, *args: Any, **kwargs: Any) -> str:
            if any(ns.name == name for ns in self.namespaces.values()):
                raise _error("NamespaceAlreadyExists", f"namespace {name} already exists")
            _check_new_tags(self, None, kwargs.get("tags"))
            return str(original(self, name, *args, **kwargs))

        return create_http_namespace

    def make_serv(original: Any) -> Callable[..., Any]:
        def create_service(self: Any, name: str, namespace_id: str, **kwargs: Any) -> Any:
            if namespace_id not in self.namespaces:
                raise _error("NamespaceNotFound", f"namespace {namespace_id} not found")
            for serv in self.services.values():
                if serv.namespace_id == namespace_id and serv.name == name:
                    raise _error("ServiceAlreadyExists", f"service {name} already exists")
            _check_new_tags(self, None, kwargs.get("tags"))
            return original(self, name=name, namespace_id=namespace_id, **kwargs)

        return create_service

    _patch(cls, "create_http_namespace", "create", make_ns)
    _patch(cls, "create_service", "create", make_serv)


def _refuse_non_empty_deletes() -> None:
    """DeleteService: "If the service still contains one or more registered instances, the
    request fails" (ResourceInUse); DeleteNamespace: "If the namespace still contains one or
    more services, the request fails"; a service that does not exist is ServiceNotFound. moto
    deletes all three. A deleted resource's tags go with it."""
    from moto.servicediscovery import models

    cls = models.ServiceDiscoveryBackend

    def make_serv(original: Any) -> Callable[..., Any]:
        def delete_service(self: Any, service_id: str) -> None:
            service = self.get_service(service_id)  # ServiceNotFound
            if service.instances:
                raise _error("ResourceInUse", f"service {service_id} contains instances")
            original(self, service_id)
            self.tagger.delete_all_tags_for_resource(service.arn)

        return delete_service

    def make_ns(original: Any) -> Callable[..., Any]:
        def delete_namespace(self: Any, namespace_id: str) -> str:
            if any(s.namespace_id == namespace_id for s in self.services.values()):
                raise _error("ResourceInUse", f"namespace {namespace_id} contains services")
            namespace = self.get_namespace(namespace_id)  # NamespaceNotFound
            operation = str(original(self, namespace_id))
            self.tagger.delete_all_tags_for_resource(namespace.arn)
            return operation

        return delete_namespace

    _patch(cls, "delete_service", "delete", make_serv)
    _patch(cls, "delete_namespace", "delete", make_ns)


# lists -----------------------------------------------------------------------------------------


def _filtered(
    items: list[dict[str, Any]], filters: list[dict[str, Any]], fields: dict[str, Any]
) -> list[dict[str, Any]]:
    """``items`` that pass every filter. ``fields`` maps each filter name to the conditions it
    supports and a function giving an item's values for it; a condition the API does not support
    for that name, or EQ/BEGINS_WITH with other than one value, is InvalidInput."""
    for flt in filters:
        name, values = flt["Name"], flt["Values"]
        condition = flt.get("Condition") or "EQ"
        conditions, value_of = fields[name]
        if condition not in conditions:
            raise _invalid(f"filter {name}: condition {condition} is not supported")
        if len(values) != 1:
            raise _invalid(f"filter {name} {condition}: specify exactly one value")
        wanted = values[0]
        if condition == "EQ":
            items = [i for i in items if wanted in value_of(i)]
        else:
            items = [i for i in items if any(v.startswith(wanted) for v in value_of(i))]
    return items


def _page(params: dict[str, Any], key: str, items: list[dict[str, Any]]) -> str:
    """One page of ``items`` (``MaxResults``, default 100; ``NextToken`` an offset)."""
    token = params.get("NextToken") or "0"
    if not token.isdigit():
        raise _invalid(f"NextToken {token!r} is not valid")
    start, size = int(token), int(params.get("MaxResults") or DEFAULT_PAGE)
    body: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        body["NextToken"] = str(start + size)
    return json.dumps(body)


def _filter_and_paginate() -> None:
    """ListNamespaces and ListServices apply their Filters, and the three List calls page
    (MaxResults: "If you don't specify a value for MaxResults, Cloud Map returns up to 100");
    moto 5 ignores the filters and returns every item at once."""
    from moto.servicediscovery import responses

    cls = responses.ServiceDiscoveryResponse
    self_only = {"SELF"}  # RESOURCE_OWNER: everything here is the caller's own
    namespace_fields = {
        "TYPE": (_NAMESPACE_FILTERS["TYPE"], lambda ns: {ns["Type"]}),
        "NAME": (_NAMESPACE_FILTERS["NAME"], lambda ns: {ns["Name"]}),
        "HTTP_NAME": (
            _NAMESPACE_FILTERS["HTTP_NAME"],
            lambda ns: {ns["Properties"]["HttpProperties"].get("HttpName", "")},
        ),
        "RESOURCE_OWNER": (_NAMESPACE_FILTERS["RESOURCE_OWNER"], lambda ns: self_only),
    }

    def make_ns(original: Any) -> Callable[..., Any]:
        def list_namespaces(self: Any) -> str:
            params = json.loads(self.body or "{}")
            _status, _headers, raw = original(self)
            items = _filtered(
                json.loads(raw)["Namespaces"], params.get("Filters") or [], namespace_fields
            )
            return _page(params, "Namespaces", items)

        return list_namespaces

    def make_serv(original: Any) -> Callable[..., Any]:
        def list_services(self: Any) -> str:
            params = json.loads(self.body or "{}")
            backend = self.servicediscovery_backend
            arns = {ns.id: ns.arn for ns in backend.namespaces.values()}
            fields = {
                "NAMESPACE_ID": (
                    _SERVICE_FILTERS["NAMESPACE_ID"],
                    lambda s: {s["NamespaceId"], arns.get(s["NamespaceId"], "")},
                ),
                "RESOURCE_OWNER": (_SERVICE_FILTERS["RESOURCE_OWNER"], lambda s: self_only),
            }
            items = _filtered(
                json.loads(original(self))["Services"], params.get("Filters") or [], fields
            )
            return _page(params, "Services", items)

        return list_services

    def make_instances(original: Any) -> Callable[..., Any]:
        def list_instances(self: Any) -> str:
            params = json.loads(self.body or "{}")
            service = self.servicediscovery_backend.get_service(params.get("ServiceId"))
            return _page(params, "Instances", [i.to_json() for i in service.instances])

        return list_instances

    _patch(cls, "list_namespaces", "lists", make_ns)
    _patch(cls, "list_services", "lists", make_serv)
    _patch(cls, "list_instances", "lists", make_instances)


def make_aws_faithful() -> None:
    """Patch moto's Cloud Map as the module docstring says (idempotent). The model check wraps
    the others, so a request the API model refuses reaches none of them."""
    _register_instances_faithfully()
    _tag_faithfully()
    _create_faithfully()
    _refuse_non_empty_deletes()
    _filter_and_paginate()
    _check_requests_against_the_model()


class MotoServer(LocalServer):
    """moto's server on ``host:port`` (0: a free port), AWS-faithful, started on construction.

    ``endpoint_url`` is ``http://host:PORT``; ``url(region)`` the registry URL for it. Dummy
    credentials are set in this process's environment where none are (boto3 needs some).
    Raises EmulatorError when ``moto[server]`` is not installed.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise EmulatorError(
                f"moto's server is not installed ({exc}): pip install 'moto[server]>=5' "
                "(scripts/bootstrap does)"
            ) from exc
        for key, value in DUMMY_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        make_aws_faithful()
        self.port = port or free_port(host)
        self.endpoint_url = f"http://{host}:{self.port}"
        self._server = ThreadedMotoServer(ip_address=host, port=self.port, verbose=False)
        self._server.start()

    def url(self, region: str) -> str:
        """The registry URL of Cloud Map in ``region`` on this server."""
        return f"cloudmap://{region}?endpoint_url={self.endpoint_url}"

    def reset(self) -> None:
        """Forget every namespace, service and instance."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self._server.stop()
