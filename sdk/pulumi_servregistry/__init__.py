"""Pulumi resources for service registries: namespaces, services and endpoint sets in etcd,
AWS Cloud Map, Google Service Directory or an embedded SQLite registry.

    import pulumi_servregistry as sr

    ns = sr.RegistryNamespace("prod", name="prod", registry=sr.SqliteRegistryArgs("registry.db"))
    web = sr.RegistryService("web", namespace=ns.name, name="web", metadata={"team": "core"})
    sr.RegistryEndpointSet("web-endpoints", namespace=ns.name, service=web.name,
                           endpoints=[sr.EndpointArgs(address="10.0.0.1", port=80)])

Everything written carries an owner pair and this stack's ``pulumi-stack`` label; nothing
without them is ever changed or deleted.
"""

from typing import Any

from pulumi_servregistry.config import (
    CloudMapRegistryArgs,
    EtcdRegistryArgs,
    ServiceDirectoryRegistryArgs,
    SqliteRegistryArgs,
    deprecated,
)
from pulumi_servregistry.endpoint_set import (
    EndpointArgs,
    RegistryEndpointSet,
    RegistryEndpointSetArgs,
)
from pulumi_servregistry.kubernetes import KubernetesServiceRegistration
from pulumi_servregistry.namespace import RegistryNamespace, RegistryNamespaceArgs
from pulumi_servregistry.service import RegistryService, RegistryServiceArgs

__all__ = [
    "CloudMapRegistryArgs",
    "EndpointArgs",
    "EtcdRegistryArgs",
    "KubernetesServiceRegistration",
    "RegistryEndpointSet",
    "RegistryEndpointSetArgs",
    "RegistryNamespace",
    "RegistryNamespaceArgs",
    "RegistryService",
    "RegistryServiceArgs",
    "ServiceDirectoryRegistryArgs",
    "SqliteRegistryArgs",
]


def __getattr__(name: str) -> Any:
    """The names of release 0.1.0 (``SqliteRegistry`` and the like), with a DeprecationWarning."""
    return deprecated(name)
