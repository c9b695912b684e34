"""A wrapper around a REAL registry that records writes and injects the seed's named faults.

The seed's broker tests used a fake whose objects named ``get-error``, ``create-error``,
``update-error``, ``delete-error`` and ``list-error`` made the matching call fail. This wrapper
keeps those triggers but stores everything in the real backend underneath.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from servregistry import errors
from servregistry.model import Endpoint, Namespace, RegistryObject, Service
from servregistry.registry import ServiceRegistry


def _fault(trigger: str, *names: str) -> None:
    if trigger in names:
        raise errors.BackendError(f"injected fault: {trigger}")


@dataclass
class Recording:
    """Registry wrapper: ``created``/``updated``/``deleted`` list the names written."""

    inner: ServiceRegistry
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def validate(self, obj: RegistryObject) -> None:
        self.inner.validate(obj)

    def close(self) -> None:
        self.inner.close()

    def get_ns(self, name: str) -> Namespace:
        _fault("get-error", name)
        return self.inner.get_ns(name)

    def list_ns(self) -> list[Namespace]:
        return self.inner.list_ns()

    def create_ns(self, ns: Namespace) -> Namespace:
        _fault("create-error", ns.name)
        self.created.append(ns.name)
        return self.inner.create_ns(ns)

    def update_ns(self, ns: Namespace) -> Namespace:
        _fault("update-error", ns.name)
        self.updated.append(ns.name)
        return self.inner.update_ns(ns)

    def delete_ns(self, name: str) -> None:
        _fault("delete-error", name)
        self.deleted.append(name)
        self.inner.delete_ns(name)

    def get_serv(self, ns_name: str, serv_name: str) -> Service:
        _fault("get-error", serv_name)
        return self.inner.get_serv(ns_name, serv_name)

    def list_serv(self, ns_name: str) -> list[Service]:
        found = self.inner.list_serv(ns_name)
        _fault("list-error", *(s.name for s in found))
        return found

    def create_serv(self, serv: Service) -> Service:
        _fault("create-error", serv.name)
        self.created.append(serv.name)
        return self.inner.create_serv(serv)

    def update_serv(self, serv: Service) -> Service:
        _fault("update-error", serv.name)
        self.updated.append(serv.name)
        return self.inner.update_serv(serv)

    def delete_serv(self, ns_name: str, serv_name: str) -> None:
        _fault("delete-error", serv_name)
        self.deleted.append(serv_name)
        self.inner.delete_serv(ns_name, serv_name)

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint:
        return self.inner.get_endp(ns_name, serv_name, endp_name)

    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]:
        found = self.inner.list_endp(ns_name, serv_name)
        _fault("list-error", *(e.name for e in found))
        return found

    def create_endp(self, endp: Endpoint) -> Endpoint:
        _fault("create-error", endp.name)
        self.created.append(endp.name)
        return self.inner.create_endp(endp)

    def update_endp(self, endp: Endpoint) -> Endpoint:
        _fault("update-error", endp.name)
        self.updated.append(endp.name)
        return self.inner.update_endp(endp)

    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None:
        _fault("delete-error", endp_name)
        self.deleted.append(endp_name)
        self.inner.delete_endp(ns_name, serv_name, endp_name)
