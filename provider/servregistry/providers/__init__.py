"""The ``pulumi.dynamic`` providers behind the SDK's resources (this package imports pulumi;
the rest of ``servregistry`` does not). Their module paths and class names are persisted in
Pulumi state through pickling by reference: never rename them without leaving an alias."""

from servregistry.providers.endpoint_set import EndpointSetProvider
from servregistry.providers.parents import NamespaceProvider, ServiceProvider

__all__ = ["EndpointSetProvider", "NamespaceProvider", "ServiceProvider"]
