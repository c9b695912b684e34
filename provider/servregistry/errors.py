"""Every failure a caller of :mod:`servregistry` can catch.

One class per sentinel error of the seed (CN-WAN ``servregistry``), grouped so that a caller can
catch a whole family. Backends map every client error (gRPC, botocore, sqlite3, etcd) onto this
tree; a raw client exception never escapes, it is kept as ``__cause__``::

    ServiceRegistryError
    ├── RegistryNotProvidedError          no registry given to the Broker
    ├── MissingDependencyError            a backend's client library is missing (ImportError)
    ├── InvalidInputError                 bad input, raised before anything is written (ValueError)
    │   ├── NamespaceNotProvidedError
    │   ├── NamespaceNameNotProvidedError
    │   ├── ServiceNotProvidedError
    │   ├── ServiceNameNotProvidedError
    │   ├── EndpointNotProvidedError
    │   └── EndpointNameNotProvidedError
    ├── NotFoundError                     the object does not exist
    │   └── ParentNotFoundError           its namespace or service does not exist
    ├── AlreadyExistsError                create of an object that exists
    ├── ConflictError                     the object changed between read and write; retry
    ├── NotEmptyError
    │   ├── NamespaceNotEmptyError
    │   └── ServiceNotEmptyError
    ├── OwnershipError                    refusing to touch what is not ours
    │   ├── NamespaceHasForeignServicesError
    │   ├── ServiceHasForeignEndpointsError
    │   ├── NamespaceNotOwnedError
    │   ├── ServiceNotOwnedError
    │   └── EndpointNotOwnedError
    ├── RegistryTimeoutError              the registry did not answer in time (TimeoutError)
    └── BackendError                      any other registry failure (permission, quota, ...)
        └── RegistryUnavailableError      the registry cannot be reached at all
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "BackendError",
    "ConflictError",
    "EndpointNameNotProvidedError",
    "EndpointNotOwnedError",
    "EndpointNotProvidedError",
    "InvalidInputError",
    "MissingDependencyError",
    "NamespaceHasForeignServicesError",
    "NamespaceNameNotProvidedError",
    "NamespaceNotEmptyError",
    "NamespaceNotOwnedError",
    "NamespaceNotProvidedError",
    "NotEmptyError",
    "NotFoundError",
    "OwnershipError",
    "ParentNotFoundError",
    "RegistryNotProvidedError",
    "RegistryTimeoutError",
    "RegistryUnavailableError",
    "ServiceHasForeignEndpointsError",
    "ServiceNameNotProvidedError",
    "ServiceNotEmptyError",
    "ServiceNotOwnedError",
    "ServiceNotProvidedError",
    "ServiceRegistryError",
]


class ServiceRegistryError(Exception):
    """Base of every error raised by servregistry. ``default_message`` is the seed's text."""

    default_message = "service registry error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class RegistryNotProvidedError(ServiceRegistryError):
    default_message = "no service registry is provided"


class MissingDependencyError(ServiceRegistryError, ImportError):
    """The client library of a backend is not installed; the message names the extra."""

    default_message = "a client library is missing"


class InvalidInputError(ServiceRegistryError, ValueError):
    """An input breaks a rule. ``field`` names the input, ``rule`` the rule it breaks."""

    default_message = "invalid input"
    default_field = ""

    def __init__(self, message: str | None = None, *, field: str = "", rule: str = "") -> None:
        self.field = field or self.default_field
        self.rule = rule or message or self.default_message
        if message is None and field:
            message = f"{field}: {self.rule}"
        super().__init__(message)


class NamespaceNotProvidedError(InvalidInputError):
    default_message = "namespace is empty"
    default_field = "namespace"


class NamespaceNameNotProvidedError(InvalidInputError):
    default_message = "namespace name is empty"
    default_field = "namespace.name"


class ServiceNotProvidedError(InvalidInputError):
    default_message = "service is empty"
    default_field = "service"


class ServiceNameNotProvidedError(InvalidInputError):
    default_message = "service name is empty"
    default_field = "service.name"


class EndpointNotProvidedError(InvalidInputError):
    default_message = "endpoint is empty"
    default_field = "endpoint"


class EndpointNameNotProvidedError(InvalidInputError):
    default_message = "endpoint name not provided"
    default_field = "endpoint.name"


class NotFoundError(ServiceRegistryError):
    default_message = "resource not found"


class ParentNotFoundError(NotFoundError):
    """Create/update under a namespace or service that does not exist."""

    default_message = "parent resource not found"


class AlreadyExistsError(ServiceRegistryError):
    default_message = "resource already exists"


class ConflictError(ServiceRegistryError):
    """The object changed in the registry between our read and our guarded write."""

    default_message = "resource was modified concurrently; retry"


class NotEmptyError(ServiceRegistryError):
    default_message = "resource is not empty"


class NamespaceNotEmptyError(NotEmptyError):
    default_message = "namespace is not empty"


class ServiceNotEmptyError(NotEmptyError):
    default_message = "service is not empty"


class OwnershipError(ServiceRegistryError):
    default_message = "resource is not owned by us"


class NamespaceHasForeignServicesError(OwnershipError):
    default_message = "namespace contains services not owned by the operator"


class ServiceHasForeignEndpointsError(OwnershipError):
    default_message = "service contains endpoints not owned by the operator"


class NamespaceNotOwnedError(OwnershipError):
    default_message = "namespace is not owned by the cnwan operator"


class ServiceNotOwnedError(OwnershipError):
    default_message = "service is not owned by the cnwan operator"


class EndpointNotOwnedError(OwnershipError):
    default_message = "endpoint is not owned by the cnwan operator"


class RegistryTimeoutError(ServiceRegistryError, TimeoutError):
    default_message = "timeout expired while waiting for service registry to reply"


class BackendError(ServiceRegistryError):
    """Any other failure reported by the registry or its client."""

    default_message = "the service registry reported an error"


class RegistryUnavailableError(BackendError):
    """The registry cannot be reached (connection refused, no server available)."""

    default_message = "the service registry cannot be reached"
