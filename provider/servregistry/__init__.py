"""servregistry: namespaces, services and endpoints in etcd, AWS Cloud Map, Google Service
Directory or an embedded SQLite registry, written through a Broker that never touches what it
does not own.

    from servregistry import Broker, Namespace, open_registry
    with open_registry("sqlite:////tmp/registry.db") as reg:
        Broker(reg).manage_ns(Namespace("prod"))
"""

from servregistry import errors
from servregistry.broker import Broker
from servregistry.model import Endpoint, MetadataPair, Namespace, Service
from servregistry.registry import ServiceRegistry, open_registry

__all__ = [
    "Broker",
    "Endpoint",
    "MetadataPair",
    "Namespace",
    "Service",
    "ServiceRegistry",
    "errors",
    "open_registry",
]

__version__ = "0.1.0"
