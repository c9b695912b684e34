"""Registry objects from a Kubernetes Namespace and Service.

The inputs are plain mappings of the shape ``kubectl get -o json`` prints (camelCase keys) or
the objects ``pulumi_kubernetes`` outputs resolve to (snake_case attributes or keys); both are
read. The seed's rules (see docs/semantics.md) are kept:

* endpoint names are ``<service>-<first 10 hex chars of sha256("<address>-<port>")>``, the port
  being the service port (protocol, nodePort and targetPort are ignored);
* addresses are ``spec.externalIPs`` then ``status.loadBalancer.ingress[].ip``, crossed with
  ``spec.ports``;
* the service belongs to the Kubernetes namespace's name.

and its defects fixed: an address seen twice, or TCP and UDP on one port, give one
endpoint, not two writes of one name; a hostname-only ingress or an unparsable address is
reported in ``Extraction.skipped`` instead of being registered with an empty address.
Annotations pass through an allow-list (:func:`filter_annotations`, the operator's
``serviceAnnotations`` patterns); nothing is kept unless a pattern allows it, and the
caller's maps are never returned or modified.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from servregistry import errors
from servregistry.model import Endpoint, Namespace, Service, endpoint_name

__all__ = ["Extraction", "SkippedAddress", "endpoint_name", "extract", "filter_annotations"]


def filter_annotations(
    annotations: Mapping[str, str] | None, patterns: Iterable[str]
) -> dict[str, str]:
    """A new map with the annotations the patterns allow.

    A pattern is an exact key, ``prefix/*``, ``*/name`` or ``*/*`` (everything). A key without a
    ``/`` matches only exactly; an empty pattern list keeps nothing.
    """
    allowed = set(patterns)
    source = dict(annotations or {})
    if "*/*" in allowed:
        return source
    kept: dict[str, str] = {}
    for key, value in source.items():
        parts = key.split("/")
        if key in allowed or (
            len(parts) == 2 and (f"{parts[0]}/*" in allowed or f"*/{parts[1]}" in allowed)
        ):
            kept[key] = value
    return kept


@dataclass(frozen=True)
class SkippedAddress:
    """An ingress or external address that could not become an endpoint, and why."""

    source: str
    value: str
    reason: str


@dataclass(frozen=True)
class Extraction:
    """What a Kubernetes Namespace and Service map to."""

    namespace: Namespace
    service: Service
    endpoints: list[Endpoint]
    skipped: list[SkippedAddress] = field(default_factory=list)


def extract(
    k8s_namespace: Any,
    k8s_service: Any,
    service_annotations: Sequence[str] = (),
    namespace_annotations: Sequence[str] = (),
) -> Extraction:
    """Map a Kubernetes Namespace and Service to registry objects.

    ``service_annotations`` / ``namespace_annotations`` are allow-list patterns (see
    :func:`filter_annotations`) for what becomes service / namespace metadata; by default no
    annotation is copied (the operator registered namespaces with no metadata).

    Raises NamespaceNotProvidedError / ServiceNotProvidedError when either object is missing,
    and InvalidInputError naming the field when a name or a port is missing or malformed.
    """
    if k8s_namespace is None:
        raise errors.NamespaceNotProvidedError(field="k8s_namespace")
    if k8s_service is None:
        raise errors.ServiceNotProvidedError(field="k8s_service")
    ns_meta = _get(k8s_namespace, "metadata") or {}
    svc_meta = _get(k8s_service, "metadata") or {}
    ns_name = _name(ns_meta, "k8s_namespace.metadata.name")
    serv_name = _name(svc_meta, "k8s_service.metadata.name")
    namespace = Namespace(
        ns_name, filter_annotations(_get(ns_meta, "annotations"), namespace_annotations)
    )
    service = Service(
        serv_name, ns_name, filter_annotations(_get(svc_meta, "annotations"), service_annotations)
    )
    addresses, skipped = _addresses(k8s_service)
    endpoints: dict[str, Endpoint] = {}
    for port in _ports(k8s_service):
        for address in addresses:
            name = endpoint_name(serv_name, address, port)
            endpoints.setdefault(name, Endpoint(name, ns_name, serv_name, address, port))
    return Extraction(namespace, service, list(endpoints.values()), skipped)


def _get(obj: Any, camel: str, snake: str | None = None) -> Any:
    """``obj[camel]`` / ``obj[snake]`` for mappings, else the attribute; None when absent."""
    for key in (camel, snake or _snake(camel)):
        if isinstance(obj, Mapping):
            if key in obj:
                return obj[key]
        elif obj is not None and hasattr(obj, key):
            return getattr(obj, key)
    return None


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _name(meta: Any, field_name: str) -> str:
    name = _get(meta, "name")
    if not isinstance(name, str) or not name:
        raise errors.InvalidInputError(field=field_name, rule="must be a non-empty string")
    return name


def _addresses(k8s_service: Any) -> tuple[list[str], list[SkippedAddress]]:
    spec = _get(k8s_service, "spec") or {}
    status = _get(k8s_service, "status") or {}
    skipped: list[SkippedAddress] = []
    candidates = [
        ("spec.externalIPs", ip) for ip in _get(spec, "externalIPs", "external_ips") or ()
    ]
    ingress = _get(_get(status, "loadBalancer") or {}, "ingress") or ()
    for index, entry in enumerate(ingress):
        source = f"status.loadBalancer.ingress[{index}]"
        ip, hostname = _get(entry, "ip"), _get(entry, "hostname")
        if ip:
            candidates.append((source, ip))
        elif hostname:
            reason = "a hostname-only ingress has no IP address to register"
            skipped.append(SkippedAddress(source, hostname, reason))
    addresses: list[str] = []
    for source, value in candidates:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            skipped.append(SkippedAddress(source, str(value), "not an IPv4 or IPv6 address"))
            continue
        if value not in addresses:
            addresses.append(value)
    return addresses, skipped


def _ports(k8s_service: Any) -> list[int]:
    ports: list[int] = []
    for index, entry in enumerate(_get(_get(k8s_service, "spec") or {}, "ports") or ()):
        port = _get(entry, "port")
        if isinstance(port, float) and port.is_integer():
            port = int(port)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise errors.InvalidInputError(
                field=f"k8s_service.spec.ports[{index}].port",
                rule="must be an integer in 0..65535",
            )
        if port not in ports:
            ports.append(port)
    return ports
