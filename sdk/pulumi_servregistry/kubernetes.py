"""Register a ``pulumi_kubernetes`` Service in a service registry.

    svc = k8s.core.v1.Service("web", ...)
    KubernetesServiceRegistration("web", service=svc, registry="etcd://10.0.0.5:2379/",
                                  service_annotations=["cnwan.io/*"])

The Service's load-balancer ingress IPs and external IPs crossed with its ports become a
``RegistryEndpointSet`` (named as the CN-WAN operator names them), its allowed annotations the
``RegistryService``'s metadata, and its Kubernetes namespace a ``RegistryNamespace`` (unless
``create_namespace=False``, when the namespace must already be registered). Hostname-only
ingresses cannot be registered; they are listed in the ``skipped`` output. Nothing here needs
``pulumi_kubernetes`` itself: any resource with ``metadata``, ``spec`` and ``status`` outputs
of the Kubernetes shape works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from pulumi_servregistry._common import RegistryInput
from pulumi_servregistry.endpoint_set import RegistryEndpointSet
from pulumi_servregistry.namespace import RegistryNamespace
from pulumi_servregistry.service import RegistryService
from servregistry.kubernetes import Extraction, extract

__all__ = ["KubernetesServiceRegistration"]


class KubernetesServiceRegistration(pulumi.ComponentResource):
    """A Kubernetes Service as a registry namespace, service and endpoint set."""

    namespace: RegistryNamespace | None
    """The registered namespace (None with ``create_namespace=False``)."""
    service: RegistryService
    """The registered service."""
    endpoint_set: RegistryEndpointSet
    """The registered endpoints."""
    skipped: pulumi.Output[list[str]]
    """Addresses that could not be registered, with the reason (e.g. hostname-only ingress)."""

    def __init__(
        self,
        resource_name: str,
        service: Any,
        *,
        registry: RegistryInput | None = None,
        service_annotations: Sequence[str] = (),
        namespace_name: pulumi.Input[str] | None = None,
        namespace_metadata: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        create_namespace: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """:param service: a ``pulumi_kubernetes.core.v1.Service`` (or any resource with its
        ``metadata``/``spec``/``status`` outputs).
        :param service_annotations: allow-list of annotations copied into service metadata:
            exact keys, ``prefix/*``, ``*/name`` or ``*/*`` (the operator's patterns).
        :param namespace_name: the registry namespace; default: the Service's namespace.
        """
        super().__init__("servregistry:kubernetes:ServiceRegistration", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        patterns = tuple(service_annotations)

        def to_registry(values: list[Any]) -> Extraction:
            metadata, spec, status, ns_override = values
            ns = ns_override or _field(metadata, "namespace") or "default"
            return extract(
                {"metadata": {"name": ns}},
                {"metadata": metadata, "spec": spec, "status": status},
                service_annotations=patterns,
            )

        found = pulumi.Output.all(
            service.metadata, service.spec, service.status, namespace_name
        ).apply(to_registry)
        ns_name: pulumi.Output[str] = found.apply(lambda e: e.namespace.name)
        self.namespace = None
        if create_namespace:
            self.namespace = RegistryNamespace(
                f"{resource_name}-namespace",
                name=ns_name,
                metadata=namespace_metadata,
                registry=registry,
                opts=child,
            )
            ns_name = self.namespace.name
        self.service = RegistryService(
            f"{resource_name}-service",
            namespace=ns_name,
            name=found.apply(lambda e: e.service.name),
            metadata=found.apply(lambda e: e.service.metadata),
            registry=registry,
            opts=child,
        )
        self.endpoint_set = RegistryEndpointSet(
            f"{resource_name}-endpoints",
            namespace=ns_name,
            service=self.service.name,
            endpoints=found.apply(
                lambda e: [
                    {"name": p.name, "address": p.address, "port": p.port} for p in e.endpoints
                ]
            ),
            registry=registry,
            opts=child,
        )
        self.skipped = found.apply(
            lambda e: [f"{s.source}={s.value}: {s.reason}" for s in e.skipped]
        )
        self.register_outputs({"skipped": self.skipped})


def _field(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)
