"""The ``ServiceRegistry`` protocol every backend implements, and ``open_registry(url)``.

A backend implements the 15 Get/List/Create/Update/Delete methods of the seed's interface in
snake_case. Their contract (what the Broker relies on):

* ``get_*`` of a missing object raises :class:`~servregistry.errors.NotFoundError`;
* ``create_*`` of an existing object raises :class:`~servregistry.errors.AlreadyExistsError`;
  a missing parent raises :class:`~servregistry.errors.ParentNotFoundError`;
* ``update_*`` of a missing object raises ``NotFoundError``; it replaces metadata entirely
  (removed keys disappear);
* ``create_*``/``update_*`` return the object as stored;
* ``get_*``/``list_*`` return metadata as stored, the owner pair included;
* ``delete_*`` of a missing object raises ``NotFoundError``; deleting a parent removes its
  children (the Broker has checked ownership first) and never touches a sibling;
* every client error is mapped onto :mod:`servregistry.errors`;
* every method is safe to call from several threads at once.

``validate(obj)`` raises :class:`~servregistry.errors.InvalidInputError` for anything the
backend would refuse (its name rules, metadata limits); the Broker calls it before any write.

A backend may also implement :class:`BatchEndpointWriter`; the Broker then reconciles an endpoint
set with one call instead of one call per endpoint. And it may implement
:class:`UnchangedEndpointReader`, so that the endpoints already stored as wanted (all of them, on
every ``pulumi up`` that changes nothing) are recognised without being decoded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from servregistry import errors
from servregistry.model import Endpoint, Namespace, RegistryObject, Service
from servregistry.urls import registry_location, scheme_of

__all__ = [
    "KNOWN_IMPLEMENTATIONS",
    "BatchEndpointWriter",
    "EndpointChanges",
    "ServiceRegistry",
    "UnchangedEndpointReader",
    "Wanted",
    "open_registry",
    "registry_location",
]


@runtime_checkable
class ServiceRegistry(Protocol):
    """What the Broker needs from a registry backend."""

    def get_ns(self, name: str) -> Namespace: ...
    def list_ns(self) -> list[Namespace]: ...
    def create_ns(self, ns: Namespace) -> Namespace: ...
    def update_ns(self, ns: Namespace) -> Namespace: ...
    def delete_ns(self, name: str) -> None: ...

    def get_serv(self, ns_name: str, serv_name: str) -> Service: ...
    def list_serv(self, ns_name: str) -> list[Service]: ...
    def create_serv(self, serv: Service) -> Service: ...
    def update_serv(self, serv: Service) -> Service: ...
    def delete_serv(self, ns_name: str, serv_name: str) -> None: ...

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint: ...
    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]: ...
    def create_endp(self, endp: Endpoint) -> Endpoint: ...
    def update_endp(self, endp: Endpoint) -> Endpoint: ...
    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None: ...

    def validate(self, obj: RegistryObject) -> None:
        """Raise InvalidInputError if this backend cannot store ``obj``."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EndpointChanges:
    """One service's endpoint writes, computed by the Broker after its ownership checks.

    ``current`` holds the registry's endpoints as listed, so that a backend can guard each write
    on what was read (e.g. etcd revisions) and refuse a concurrent change.
    """

    ns_name: str
    serv_name: str
    create: Sequence[Endpoint] = ()
    update: Sequence[Endpoint] = ()
    delete: Sequence[str] = ()
    current: Mapping[str, Endpoint] | None = None

    def __len__(self) -> int:
        return len(self.create) + len(self.update) + len(self.delete)


@runtime_checkable
class BatchEndpointWriter(Protocol):
    """Optional fast path: apply an endpoint set's changes in as few round trips as possible."""

    def apply_endpoint_changes(
        self, changes: EndpointChanges
    ) -> dict[str, errors.ServiceRegistryError]:
        """Apply ``changes``; return the per-endpoint failures (empty when all succeeded)."""
        ...


#: an endpoint the Broker wants stored: as its caller gave it (its name, address and port are
#: used; its own namespace and service names are not), and its metadata as written (stamped with
#: the owner pairs). Under a service ``ns``/``serv`` it is stored as
#: ``Endpoint(e.name, ns, serv, e.address, e.port, metadata)``.
Wanted = tuple[Endpoint, dict[str, str]]


@runtime_checkable
class UnchangedEndpointReader(Protocol):
    """Optional fast path for a reconcile that changes little: list a service's endpoints, but
    recognise those stored exactly as wanted without decoding them.

    Most reconciles are no-ops (every ``pulumi up`` and refresh that changes nothing), and
    decoding thousands of stored endpoints into objects only to find them equal to what is
    wanted costs several times the read itself.
    """

    def list_endp_unchanged(
        self, ns_name: str, serv_name: str, wanted: Mapping[str, Wanted]
    ) -> tuple[list[Endpoint], Collection[str]]:
        """``(listed, unchanged)``: ``unchanged`` holds names whose stored endpoint equals
        ``wanted[name]`` as written under ``ns_name``/``serv_name`` (see :data:`Wanted`);
        ``listed`` is exactly what ``list_endp`` returns for every other stored endpoint. A name
        may be left out of ``unchanged`` even when equal (it is then listed): only a stored
        value the backend can match cheaply needs to be recognised. Raises as ``list_endp``."""
        ...


#: scheme → (``module:Class``, the extra that installs its client library); the schemes are
#: those of :data:`servregistry.urls.SCHEMES`
KNOWN_IMPLEMENTATIONS: dict[str, tuple[str, str | None]] = {
    "sqlite": ("servregistry.backends.sqlite:SqliteRegistry", None),
    "etcd": ("servregistry.backends.etcd:EtcdRegistry", "etcd"),
    "etcds": ("servregistry.backends.etcd:EtcdRegistry", "etcd"),
    "cloudmap": ("servregistry.backends.cloudmap:CloudMapRegistry", "aws"),
    "servicedirectory": ("servregistry.backends.servicedirectory:ServiceDirectoryRegistry", "gcp"),
}


def _load(scheme: str) -> type:
    target, extra = KNOWN_IMPLEMENTATIONS[scheme]
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name == module_name:
            raise errors.InvalidInputError(
                field="registry",
                rule=f"the {scheme!r} backend is not available in this version of the package",
            ) from exc
        if extra is None or isinstance(exc, errors.MissingDependencyError):
            raise
        raise errors.MissingDependencyError(
            f"the {scheme!r} registry needs a client library that is not installed "
            f"({exc.name or exc}); install it with: pip install 'pulumi-servregistry[{extra}]'"
        ) from exc
    cls: type = getattr(module, class_name)
    return cls


def open_registry(url: str) -> ServiceRegistry:
    """Open the registry a URL names.

    * ``sqlite:///abs/path/registry.db`` — the embedded registry (one file);
    * ``etcd://host:port[,host:port]/prefix`` (``etcds://`` for TLS; options in the query string);
    * ``cloudmap://region[?endpoint_url=URL&profile=NAME]``;
    * ``servicedirectory://project/region[?endpoint=HOST:PORT]``.

    The grammar (every option) is :mod:`servregistry.urls`; each backend's ``from_url`` parses
    its scheme's dataclass from there.

    Raises InvalidInputError for an unknown scheme, a malformed URL, credentials in the URL
    (``user:password@``, never repeated in the message), an unknown option or a numeric option
    that is not finite and positive, and MissingDependencyError
    (naming the extra to install) when the backend's client library is absent.
    """
    scheme = scheme_of(url)
    from_url: Callable[[str], ServiceRegistry] = getattr(_load(scheme), "from_url")  # noqa: B009
    return from_url(url)
