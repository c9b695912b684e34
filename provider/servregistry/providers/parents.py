"""Providers of ``RegistryNamespace`` and ``RegistryService``: one implementation, two kinds.

Inputs (state keys): ``name``, ``metadata``, ``registry``, ``owner_key``, ``owner_value``,
``stack``, ``force_delete``, and for a service ``namespace``. Outputs add ``registry_url``,
``owned``, ``native_id`` and the resolved owner pair.

* ``check`` validates every input (tolerating unknowns) with one failure per bad property;
* ``diff`` replaces on a change of registry location, namespace or name (and of owner pair or
  stack, deleting first since the identity is reused); metadata and ``force_delete`` update in
  place; connection-only changes (etcd endpoints, timeouts) are no change at all;
* ``check`` also refuses a second resource of the stack declaring the same object, naming both;
* ``create`` draws the resource's instance id and adopts an existing object that carries our
  owner (and stack) pair, writing our holder pair on it (so a replacement or a renamed resource
  takes it over); it refuses a foreign one with a message naming its owner;
* ``read`` reports metadata drift, and an empty id when the object is gone;
* ``delete`` never deletes a foreign object and never fails forever because of one: a foreign
  or non-empty parent is left in place with a warning; one another resource of the stack holds
  now (after a replacement or a rename) is left in place silently.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from servregistry import errors
from servregistry.broker import Broker
from servregistry.model import Namespace, Service
from servregistry.providers.base import (
    Props,
    RegistryProvider,
    Settings,
    changed,
    check_metadata,
    check_name,
    foreign_message,
    is_unknown,
    refuse_foreign,
    user_props,
)
from servregistry.providers.ownership import new_instance
from servregistry.providers.reporting import warn
from servregistry.registry import ServiceRegistry

_Obj = TypeVar("_Obj", Namespace, Service)


class _ParentProvider(RegistryProvider, Generic[_Obj]):
    kind: ClassVar[str]
    resource_type: ClassVar[str]
    identity: ClassVar[tuple[str, ...]]

    # hooks -----------------------------------------------------------------------------------

    def build(self, props: Props) -> _Obj:
        raise NotImplementedError

    def get(self, registry: ServiceRegistry, props: Props) -> _Obj:
        raise NotImplementedError

    def manage(self, broker: Broker, obj: _Obj) -> _Obj:
        raise NotImplementedError

    def remove(self, broker: Broker, props: Props) -> None:
        raise NotImplementedError

    def resource_id(self, props: Props) -> str:
        return "/".join(str(props[k]) for k in self.identity)

    # check / diff ----------------------------------------------------------------------------

    def check(self, _olds: Props, news: Props) -> CheckResult:
        failures: list[CheckFailure] = []
        settings_ok = self.check_settings(news, failures)
        known = True
        for key in self.identity:
            known = check_name(news.get(key), key, failures) is not None and known
        metadata = check_metadata(news.get("metadata"), "metadata", failures)
        force = news.get("force_delete")
        if force is not None and not is_unknown(force) and not isinstance(force, bool):
            failures.append(CheckFailure("force_delete", "must be true or false"))
        if known and metadata is not None and not failures:
            self.check_object(news, lambda: self.build(user_props(news)), failures, settings_ok)
        if known and settings_ok:
            names: tuple[str, ...] = tuple(str(news[k]) for k in self.identity)
            self.declare(news, self.resource_type, {"name": (self.kind, *names)}, failures)
        if known and settings_ok and not failures:
            inputs = user_props(news)

            def probe(registry: ServiceRegistry, broker: Broker, url: str) -> list[CheckFailure]:
                current = self.get(registry, inputs)
                if broker.owns(current):
                    return []
                return [CheckFailure("name", foreign_message(self.kind, current, broker, url))]

            self.preflight(news, probe, failures)
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: Props, news: Props) -> DiffResult:
        in_place = any(
            changed(olds.get(k) or None, news.get(k) or None) for k in ("metadata", "force_delete")
        )
        return self.diff_identity(olds, news, self.identity, in_place)

    # create / read / update / delete ---------------------------------------------------------

    def create(self, props: Props) -> CreateResult:
        inputs = user_props(props)
        outs = self._apply(inputs, new_instance())
        return CreateResult(self.resource_id(inputs), outs)

    def update(self, _id: str, olds: Props, news: Props) -> UpdateResult:
        return UpdateResult(self._apply(user_props(news), olds.get("instance") or new_instance()))

    def _apply(self, inputs: Props, instance: str) -> Props:
        settings = self.settings(inputs, instance)
        broker = settings.broker()
        result = self.manage(broker, self.build(inputs))
        refuse_foreign(self.kind, result, broker, settings.url)
        return self._outputs(inputs, settings, broker, result)

    def read(self, id_: str, props: Props) -> ReadResult:
        inputs = user_props(props)
        settings = self.settings(inputs)
        broker = settings.broker()
        try:
            current = self.get(settings.registry(), inputs)
        except errors.NotFoundError:
            return ReadResult(None, {})
        outs = self._outputs(inputs, settings, broker, current)
        return ReadResult(id_, outs, {**inputs, "metadata": outs["metadata"]})

    def delete(self, _id: str, props: Props) -> None:
        inputs = user_props(props)
        broker = self.settings(inputs).broker()
        label = f"{self.kind} {self.resource_id(inputs)}"
        try:
            self.remove(broker, inputs)
        except (errors.NamespaceNotOwnedError, errors.ServiceNotOwnedError) as exc:
            warn(f"{label} was not deleted: {exc}")
        except (errors.NamespaceNotEmptyError, errors.ServiceNotEmptyError) as exc:
            warn(f"{label} was not deleted: {exc} (set force_delete to remove our children)")
        except (
            errors.NamespaceHasForeignServicesError,
            errors.ServiceHasForeignEndpointsError,
        ) as exc:
            warn(f"{label} was not deleted: {exc}")

    def _outputs(self, inputs: Props, settings: Settings, broker: Broker, obj: _Obj) -> Props:
        return {
            **inputs,
            "metadata": broker.user_metadata(obj.metadata),
            **settings.outputs(),
            "owned": broker.holds(obj),
            "native_id": getattr(settings.registry(), "native_id", _path)(obj),
        }


def _path(obj: Namespace | Service) -> str:
    return obj.name if isinstance(obj, Namespace) else f"{obj.ns_name}/{obj.name}"


class NamespaceProvider(_ParentProvider[Namespace]):
    """The dynamic provider behind ``RegistryNamespace``."""

    kind = "namespace"
    resource_type = "RegistryNamespace"
    identity = ("name",)

    def build(self, props: Props) -> Namespace:
        return Namespace(props.get("name", ""), props.get("metadata"))

    def get(self, registry: ServiceRegistry, props: Props) -> Namespace:
        return registry.get_ns(props["name"])

    def manage(self, broker: Broker, obj: Namespace) -> Namespace:
        return broker.manage_ns(obj)

    def remove(self, broker: Broker, props: Props) -> None:
        broker.remove_ns(props["name"], force_not_empty=bool(props.get("force_delete")))


class ServiceProvider(_ParentProvider[Service]):
    """The dynamic provider behind ``RegistryService``."""

    kind = "service"
    resource_type = "RegistryService"
    identity = ("namespace", "name")

    def build(self, props: Props) -> Service:
        return Service(props.get("name", ""), props.get("namespace", ""), props.get("metadata"))

    def get(self, registry: ServiceRegistry, props: Props) -> Service:
        return registry.get_serv(props["namespace"], props["name"])

    def manage(self, broker: Broker, obj: Service) -> Service:
        return broker.manage_serv(obj)

    def remove(self, broker: Broker, props: Props) -> None:
        broker.remove_serv(
            props["namespace"], props["name"], force_not_empty=bool(props.get("force_delete"))
        )
