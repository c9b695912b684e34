"""The Broker: checks ownership, then asks a registry backend to write.

Semantics follow the seed (docs/semantics.md) with these deliberate changes:

* no lock is held across network I/O: the Broker keeps no mutable state, and backends are
  thread-safe;
* inputs are never mutated: owner and persistent metadata go into copies;
* the whole desired endpoint set is validated (model rules, duplicate names, reserved keys)
  before anything is read, and every endpoint to be written is checked against the backend's
  own rules before anything is written (one stored exactly as wanted is not written);
* an optional *stack* pair (e.g. ``pulumi-stack: proj_dev``) narrows ownership: with it set, an
  object is ours only if it carries both our owner pair and our stack pair. The metadata
  comparison ignores both pairs;
* an optional *holder* pair (e.g. ``pulumi-resource: eps-3f9a1c2b7d4e``) says which one of the
  stack's resources declares an object. It never widens ownership (the owner and stack pairs
  still decide what is ours); it narrows what a caller may delete: writing a declared object
  takes it over from another holder of the same stack (the object gets our holder pair), while
  removals and endpoint-set reconciliation leave alone what another holder of the stack has
  (see ``docs/ownership.md``). An object of ours without any holder pair (written before
  holders existed) counts as held by whoever declares it;
* removals check that the parent is ours before touching any child (the seed did not), delete our
  children one by one before the parent (so a backend that refuses non-empty parents works, and a
  service holding a foreign endpoint is never cascaded away), and report child failures instead
  of swallowing them;
* losing a create race (``AlreadyExistsError``) re-reads and continues, so a retry converges.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import partial
from typing import TypeVar

from servregistry import errors
from servregistry.model import (
    Endpoint,
    MetadataPair,
    Namespace,
    RegistryObject,
    Service,
    refuse_reserved_keys,
    require_name,
    shared_metadata,
)
from servregistry.registry import (
    BatchEndpointWriter,
    EndpointChanges,
    ServiceRegistry,
    UnchangedEndpointReader,
    Wanted,
)

log = logging.getLogger("servregistry")

__all__ = ["DEFAULT_OWNER", "Broker"]

DEFAULT_OWNER_KEY = "owner"
DEFAULT_OWNER_VALUE = "cnwan-operator"
DEFAULT_OWNER = MetadataPair(DEFAULT_OWNER_KEY, DEFAULT_OWNER_VALUE)

_Obj = TypeVar("_Obj", Namespace, Service)
EndpointErrors = dict[str, errors.ServiceRegistryError]


class Broker:
    """Reflect desired namespaces, services and endpoints into a registry, owner-safely.

    ``owner`` is the pair written on everything we create and required on everything we change
    or delete; an empty key or value falls back to ``owner`` / ``cnwan-operator``.
    ``persistent_metadata`` pairs are added to services only, after (and over) user metadata.
    ``stack``, when given, is a second pair we write and require; ``holder``, when given, a third
    pair we write, that decides which of the stack's objects this caller may remove (see the
    module docstring).
    """

    def __init__(
        self,
        registry: ServiceRegistry | None,
        owner: MetadataPair = DEFAULT_OWNER,
        persistent_metadata: Iterable[MetadataPair] = (),
        stack: MetadataPair | None = None,
        holder: MetadataPair | None = None,
    ) -> None:
        if registry is None:
            raise errors.RegistryNotProvidedError()
        self.registry: ServiceRegistry | None = registry
        self.owner = MetadataPair(
            owner.key or DEFAULT_OWNER_KEY, owner.value or DEFAULT_OWNER_VALUE
        )
        self.persistent_metadata = tuple(persistent_metadata)
        self.stack = stack
        self.holder = holder

    # ownership ------------------------------------------------------------------------------

    @property
    def _reserved(self) -> tuple[str, ...]:
        """Keys user metadata may not hold: we write them (the owner, stack and holder keys)."""
        return tuple(mark.key for mark in self._marks) + (
            () if self.holder is None else (self.holder.key,)
        )

    @property
    def _marks(self) -> tuple[MetadataPair, ...]:
        return (self.owner,) if self.stack is None else (self.owner, self.stack)

    @property
    def _stamps(self) -> tuple[MetadataPair, ...]:
        return self._marks if self.holder is None else (*self._marks, self.holder)

    def owns(self, obj: RegistryObject) -> bool:
        """Whether ``obj`` carries our owner pair (and our stack pair, when one is set)."""
        metadata = obj.metadata
        return all(metadata.get(mark.key) == mark.value for mark in self._marks)

    def holder_of(self, obj: RegistryObject) -> str | None:
        """The value of ``obj``'s holder pair (``None`` without one, or without a holder key)."""
        return None if self.holder is None else obj.metadata.get(self.holder.key)

    def holds(self, obj: RegistryObject, legacy: bool = True) -> bool:
        """Whether ``obj`` is ours and held by us: it carries our holder pair, or (when
        ``legacy``) no holder pair at all. Without a holder set, the same as :meth:`owns`."""
        if not self.owns(obj):
            return False
        if self.holder is None:
            return True
        held_by = self.holder_of(obj)
        return held_by == self.holder.value or (legacy and held_by is None)

    def held_elsewhere(self, obj: RegistryObject) -> bool:
        """Whether ``obj`` is ours but held by another of the stack's resources."""
        return self.owns(obj) and not self.holds(obj)

    def describe_owner(self, obj: RegistryObject) -> str:
        """Say who owns ``obj`` in words, for error messages."""
        if obj.unreadable:
            return f"its stored value cannot be read ({obj.unreadable}); not ours to change"
        parts = []
        for mark in self._marks:
            value = obj.metadata.get(mark.key)
            if value is None:
                parts.append(f"it has no {mark.key!r} key")
            elif value != mark.value:
                parts.append(f"{mark.key}={value!r}, not {mark.value!r}")
        if parts:
            return "; ".join(parts)
        if self.held_elsewhere(obj) and self.holder is not None:
            return (
                f"held by another resource of this stack ({self.holder.key}={self.holder_of(obj)})"
            )
        return f"owned by us ({self.owner.key}={self.owner.value})"

    def same_metadata(self, a: Mapping[str, str], b: Mapping[str, str]) -> bool:
        """Compare two metadata maps, ignoring our owner, stack and holder pairs."""
        return self.user_metadata(a) == self.user_metadata(b)

    def user_metadata(self, metadata: Mapping[str, str]) -> dict[str, str]:
        """``metadata`` without our owner (and stack) pair, and without any holder pair."""
        marks = {m.key: m.value for m in self._marks}
        holder_key = None if self.holder is None else self.holder.key
        return {k: v for k, v in metadata.items() if marks.get(k) != v and k != holder_key}

    def _stamp(self, metadata: Mapping[str, str], *extra: MetadataPair) -> dict[str, str]:
        stamped = dict(metadata)
        for pair in (*self._stamps, *extra):
            stamped[pair.key] = pair.value
        return stamped

    def stamp(self, obj: RegistryObject) -> RegistryObject:
        """``obj`` as we write it: with our owner (stack, holder) pairs, and for a service the
        persistent metadata. ``obj`` itself is not changed."""
        extra = self.persistent_metadata if isinstance(obj, Service) else ()
        return obj.model_copy(update={"metadata": self._stamp(obj.metadata, *extra)})

    def _registry(self) -> ServiceRegistry:
        if self.registry is None:
            raise errors.RegistryNotProvidedError()
        return self.registry

    # namespaces and services ------------------------------------------------------------------

    def manage_ns(self, ns: Namespace | None) -> Namespace:
        """Create the namespace, or update its metadata if it is ours and differs.

        Checks, in order: a registry is set, ``ns`` is a Namespace, its name is not empty, its
        metadata holds no reserved key (our owner or stack key), the backend accepts it. A
        namespace we do not own is returned as the registry holds it, unchanged and without
        error (as in the seed): check :meth:`owns` on the result.
        """
        reg = self._registry()
        if ns is None:
            raise errors.NamespaceNotProvidedError()
        _require_type(ns, Namespace, "namespace")
        if not ns.name:
            raise errors.NamespaceNameNotProvidedError()
        refuse_reserved_keys(ns.metadata, self._reserved, "namespace.metadata")
        desired = ns.model_copy(update={"metadata": self._stamp(ns.metadata)})
        reg.validate(desired)
        return self._manage(desired, lambda: reg.get_ns(ns.name), reg.create_ns, reg.update_ns)

    def manage_serv(self, serv: Service | None) -> Service:
        """Create the service, or update its metadata if it is ours and differs.

        Checks, in order: registry, ``serv`` a Service, service name, namespace name, no reserved
        metadata key, backend rules.
        Persistent metadata is applied over the caller's metadata. The namespace is neither
        created nor checked here. A foreign service is returned unchanged, without error.
        """
        reg = self._registry()
        if serv is None:
            raise errors.ServiceNotProvidedError()
        _require_type(serv, Service, "service")
        if not serv.name:
            raise errors.ServiceNameNotProvidedError()
        if not serv.ns_name:
            raise errors.NamespaceNameNotProvidedError()
        refuse_reserved_keys(serv.metadata, self._reserved, "service.metadata")
        metadata = self._stamp(serv.metadata, *self.persistent_metadata)
        desired = serv.model_copy(update={"metadata": metadata})
        reg.validate(desired)
        return self._manage(
            desired, lambda: reg.get_serv(serv.ns_name, serv.name), reg.create_serv, reg.update_serv
        )

    def _manage(
        self,
        desired: _Obj,
        get: Callable[[], _Obj],
        create: Callable[[_Obj], _Obj],
        update: Callable[[_Obj], _Obj],
    ) -> _Obj:
        try:
            current = get()
        except errors.NotFoundError:
            try:
                return create(desired)
            except errors.AlreadyExistsError:
                current = get()  # lost a create race: carry on as if it had existed
        if not self.owns(current):
            return current
        if self.holds(current, legacy=False) and self.same_metadata(
            desired.metadata, current.metadata
        ):
            return current
        return update(desired)  # a change, or a take-over from another holder of the stack

    # endpoints --------------------------------------------------------------------------------

    def manage_serv_endps(
        self,
        ns_name: str,
        serv_name: str,
        endpoints: Iterable[Endpoint | None] | None,
        previous: Iterable[str] = (),
    ) -> EndpointErrors:
        """Make the service's endpoints we own equal ``endpoints``; never touch foreign ones.

        ``endpoints`` must be an iterable of Endpoint (a string, a mapping or a single Endpoint
        is refused naming ``endpoints``). Every desired endpoint is validated before anything is
        written, reserved metadata keys included (raising InvalidInputError naming
        ``endpoints[i]``). Each endpoint is written under
        ``ns_name``/``serv_name`` whatever its own fields say. An empty list removes every
        endpoint we own. Returns a map endpoint name → error: each foreign endpoint of the
        service (``EndpointNotOwnedError``, left alone) and each write that failed.

        With a holder set, only the endpoints we hold are removed: those with our holder pair,
        and those without any holder pair whose names are in ``previous`` (what the caller
        declared before). Endpoints of ours held by another of the stack's resources are
        neither removed nor reported, unless declared here: then they are taken over.
        """
        reg = self._registry()
        _require_names(ns_name, serv_name)
        if endpoints is not None and (
            isinstance(endpoints, str | bytes | Mapping | Endpoint)
            or not isinstance(endpoints, Iterable)
        ):
            raise errors.InvalidInputError(
                field="endpoints",
                rule=f"expected a list of Endpoint, got {type(endpoints).__name__}",
            )
        with _young_collections_only:
            return self._reconcile(reg, ns_name, serv_name, endpoints or (), set(previous))

    def _reconcile(
        self,
        reg: ServiceRegistry,
        ns_name: str,
        serv_name: str,
        endpoints: Iterable[Endpoint | None],
        previous: set[str],
    ) -> EndpointErrors:
        desired = self._desired_endpoints(reg, ns_name, serv_name, endpoints)
        unchanged: Collection[str] = ()
        if isinstance(reg, UnchangedEndpointReader):
            # stored exactly as wanted: ours, held by us, and equal (see the protocol)
            current, unchanged = reg.list_endp_unchanged(ns_name, serv_name, desired)
            for name in unchanged:
                del desired[name]
        else:
            current = reg.list_endp(ns_name, serv_name)
        failures: EndpointErrors = {}
        create: list[Endpoint] = []
        update: list[Endpoint] = []
        delete: list[str] = []
        held_elsewhere = 0
        for registered in current:
            wanted = desired.pop(registered.name, None)
            if not self.owns(registered):
                failures[registered.name] = errors.EndpointNotOwnedError(
                    f"endpoint {registered.name!r} of {ns_name}/{serv_name} is not ours "
                    f"({self.describe_owner(registered)}); left alone"
                )
            elif wanted is None:
                if self.holds(registered, legacy=registered.name in previous):
                    delete.append(registered.name)
                else:
                    held_elsewhere += 1
            elif not (
                self.holds(registered, legacy=False) and self._same_endpoint(wanted, registered)
            ):
                update.append(_as_written(wanted, ns_name, serv_name))
        create.extend(_as_written(wanted, ns_name, serv_name) for wanted in desired.values())
        if not (create or update or delete):
            return failures
        self._check_writes(reg, create, update)
        changes = EndpointChanges(
            ns_name, serv_name, create, update, delete, current={e.name: e for e in current}
        )
        log.info(
            "%s/%s: %d endpoint(s) to create, %d to update, %d to delete (%d unchanged, "
            "%d foreign left alone%s)",
            ns_name,
            serv_name,
            len(create),
            len(update),
            len(delete),
            len(current)
            + len(unchanged)
            - len(update)
            - len(delete)
            - len(failures)
            - held_elsewhere,
            len(failures),
            f", {held_elsewhere} of other resources of this stack" if held_elsewhere else "",
        )
        started = time.monotonic()
        written = self._apply(reg, changes)
        log.info(
            "%s/%s: %d endpoint write(s) in %.1f s, %d failed",
            ns_name,
            serv_name,
            len(changes),
            time.monotonic() - started,
            len(written),
        )
        failures.update(written)
        return failures

    def _desired_endpoints(
        self,
        reg: ServiceRegistry,
        ns_name: str,
        serv_name: str,
        endpoints: Iterable[Endpoint | None],
    ) -> dict[str, Wanted]:
        """Each desired endpoint by name, as ``(endpoint, metadata as written)``, after the
        checks that need no registry (type, name, reserved keys, a name given twice). The copy
        as written (moved under ``ns_name``/``serv_name``, stamped) is made, and checked against
        the backend's rules, only for those that are written (most reconciles write few or
        none; see :meth:`_check_writes`). The stamped metadata is one shared map per distinct
        user metadata."""
        reserved = frozenset(self._reserved)
        stamped_by: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        desired: dict[str, Wanted] = {}
        for index, endp in enumerate(endpoints):
            if endp is None:
                raise errors.EndpointNotProvidedError(field=f"endpoints[{index}]")
            if not isinstance(endp, Endpoint):
                _require_type(endp, Endpoint, f"endpoints[{index}]")
            if not endp.name:
                raise errors.EndpointNameNotProvidedError(field=f"endpoints[{index}].name")
            if not reserved.isdisjoint(endp.metadata):
                refuse_reserved_keys(endp.metadata, reserved, f"endpoints[{index}].metadata")
            pairs = tuple(endp.metadata.items())
            stamped = stamped_by.get(pairs)
            if stamped is None:
                stamped = stamped_by[pairs] = shared_metadata(self._stamp(endp.metadata))
            wanted = (endp, stamped)
            earlier = desired.setdefault(endp.name, wanted)
            if earlier is not wanted and _as_written(earlier, ns_name, serv_name) != _as_written(
                wanted, ns_name, serv_name
            ):
                raise errors.InvalidInputError(
                    field=f"endpoints[{index}].name",
                    rule=f"endpoint name {endp.name!r} is given twice with different "
                    "address, port or metadata",
                )
        return desired

    @staticmethod
    def _check_writes(reg: ServiceRegistry, create: list[Endpoint], update: list[Endpoint]) -> None:
        """The backend's rules (``validate``) on every endpoint to be written, before any is.
        An endpoint left as it is needs no check: it is stored exactly as wanted already."""
        for endp in (*create, *update):
            reg.validate(endp)

    def _same_endpoint(self, wanted: Wanted, registered: Endpoint) -> bool:
        endp, metadata = wanted
        return (
            endp.port == registered.port
            and _same_address(endp.address, registered.address)
            # the same map is the same user metadata (the usual case: no map built to see it)
            and (
                metadata == registered.metadata or self.same_metadata(metadata, registered.metadata)
            )
        )

    @staticmethod
    def _apply(reg: ServiceRegistry, changes: EndpointChanges) -> EndpointErrors:
        if not len(changes):
            return {}
        if isinstance(reg, BatchEndpointWriter):
            return reg.apply_endpoint_changes(changes)
        failures: EndpointErrors = {}
        ns_name, serv_name = changes.ns_name, changes.serv_name
        for name in changes.delete:
            _collect(failures, name, partial(reg.delete_endp, ns_name, serv_name, name))
        for endp in changes.update:
            _collect(failures, endp.name, partial(reg.update_endp, endp))
        for endp in changes.create:
            _collect(failures, endp.name, partial(reg.create_endp, endp))
        return failures

    # removal ----------------------------------------------------------------------------------

    def remove_ns(self, ns_name: str, force_not_empty: bool = False) -> None:
        """Delete the namespace if it is ours; with force, first delete our services in it.

        Missing namespace, or one held by another of the stack's resources (see the module
        docstring): nothing to do. Otherwise, in order: a non-empty namespace without
        force raises NamespaceNotEmptyError; a namespace not ours raises NamespaceNotOwnedError
        (nothing deleted); our services are removed (each as :meth:`remove_serv` with force); if
        foreign services remain, NamespaceHasForeignServicesError and the namespace is kept.
        """
        reg = self._registry()
        _require_name(ns_name, errors.NamespaceNameNotProvidedError)
        try:
            ns = reg.get_ns(ns_name)
        except errors.NotFoundError:
            return
        if self._held_elsewhere_note(f"namespace {ns_name!r}", ns):
            return
        services = reg.list_serv(ns_name)
        label = f"namespace {ns_name!r}"
        if services and not force_not_empty:
            raise errors.NamespaceNotEmptyError(f"{label} is not empty: {_names(services)}")
        if not self.owns(ns):
            raise errors.NamespaceNotOwnedError(f"{label} is not ours ({self.describe_owner(ns)})")
        failures: dict[str, errors.ServiceRegistryError] = {}
        foreign = [s for s in services if not self.owns(s)]
        for serv in services:
            if self.owns(serv):
                remove = partial(self._remove_serv, ns_name, serv.name, True, any_holder=True)
                _collect(failures, serv.name, remove)
        if foreign:
            raise errors.NamespaceHasForeignServicesError(
                f"{label} kept: it holds services that are not ours ({_names(foreign)})"
                + _failure_text(failures)
            )
        _raise_failures(label, failures)
        _ignore_missing(lambda: reg.delete_ns(ns_name))

    def remove_serv(self, ns_name: str, serv_name: str, force_not_empty: bool = False) -> None:
        """Delete the service if it is ours; with force, first delete our endpoints in it.

        The same steps as :meth:`remove_ns`, one level down: ServiceNotEmptyError,
        ServiceNotOwnedError, then ServiceHasForeignEndpointsError when foreign endpoints remain.
        A service held by another of the stack's resources is left alone, without error.
        """
        self._remove_serv(ns_name, serv_name, force_not_empty)

    def _remove_serv(
        self, ns_name: str, serv_name: str, force_not_empty: bool, any_holder: bool = False
    ) -> None:
        reg = self._registry()
        _require_names(ns_name, serv_name)
        try:
            serv = reg.get_serv(ns_name, serv_name)
        except errors.NotFoundError:
            return
        if not any_holder and self._held_elsewhere_note(f"service {ns_name}/{serv_name}", serv):
            return
        endpoints = reg.list_endp(ns_name, serv_name)
        label = f"service {ns_name}/{serv_name}"
        if endpoints and not force_not_empty:
            raise errors.ServiceNotEmptyError(f"{label} is not empty: {_names(endpoints)}")
        if not self.owns(serv):
            raise errors.ServiceNotOwnedError(f"{label} is not ours ({self.describe_owner(serv)})")
        foreign = [e for e in endpoints if not self.owns(e)]
        owned = [e.name for e in endpoints if self.owns(e)]
        changes = EndpointChanges(
            ns_name, serv_name, delete=owned, current={e.name: e for e in endpoints}
        )
        failures = {
            name: exc
            for name, exc in self._apply(reg, changes).items()
            if not isinstance(exc, errors.NotFoundError)
        }
        if foreign:
            raise errors.ServiceHasForeignEndpointsError(
                f"{label} kept: it holds endpoints that are not ours ({_names(foreign)})"
                + _failure_text(failures)
            )
        _raise_failures(label, failures)
        _ignore_missing(lambda: reg.delete_serv(ns_name, serv_name))

    def _held_elsewhere_note(self, label: str, obj: RegistryObject) -> bool:
        if not self.held_elsewhere(obj):
            return False
        log.info("%s left in place: %s", label, self.describe_owner(obj))
        return True


def _as_written(wanted: Wanted, ns_name: str, serv_name: str) -> Endpoint:
    """The endpoint as we write it: under ``ns_name``/``serv_name``, with the stamped metadata.
    Every part is already validated (the caller's endpoint by the model, the names by
    :func:`_require_names`, the pairs as MetadataPairs), so an ``Endpoint`` is built without
    running the rules again."""
    endp, metadata = wanted
    update = {"ns_name": ns_name, "serv_name": serv_name, "metadata": metadata}
    if type(endp) is not Endpoint:  # a subclass keeps its own type and fields
        return endp.model_copy(update=update)
    return Endpoint.trusted(
        endp.name, ns_name, serv_name, endp.address, endp.port, metadata, endp.unreadable
    )


class _GcScope:
    """While endpoint sets are reconciled, only the young generations are collected.

    Reading a set of N endpoints makes a few objects per endpoint that live on (the registry
    keeps them), and that many new long-lived objects make CPython run a full collection, which
    visits every object of the process: about 80 ms in a fresh process for 10,000 endpoints,
    in the middle of a reconcile. Within this scope the oldest generation's threshold is out of
    reach, so that collection waits until the reconcile has returned (the young generations
    are still collected, a few milliseconds at most). Reconciles in several threads share one
    scope: the first in saves the thresholds, the last out puts them back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = gc.get_threshold()

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._saved = gc.get_threshold()
                young, middle, _old = self._saved
                gc.set_threshold(young, middle, 2**31 - 1)
            self._depth += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                gc.set_threshold(*self._saved)


_young_collections_only = _GcScope()


def _require_names(ns_name: str, serv_name: str) -> None:
    _require_name(ns_name, errors.NamespaceNameNotProvidedError)
    _require_name(serv_name, errors.ServiceNameNotProvidedError)


def _require_name(name: object, missing: type[errors.InvalidInputError]) -> None:
    require_name(name, missing.default_field, missing)


def _require_type(obj: object, kind: type, field: str) -> None:
    if not isinstance(obj, kind):
        raise errors.InvalidInputError(
            field=field, rule=f"expected {kind.__name__}, got {type(obj).__name__}"
        )


def _same_address(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _names(objs: Iterable[RegistryObject]) -> str:
    names = sorted(o.name for o in objs)
    shown = ", ".join(names[:10])
    return f"{shown}, … ({len(names)} in all)" if len(names) > 10 else shown


def _collect(
    failures: dict[str, errors.ServiceRegistryError], name: str, action: Callable[[], object]
) -> None:
    try:
        action()
    except errors.ServiceRegistryError as exc:
        failures[name] = exc


def _failure_text(failures: Mapping[str, errors.ServiceRegistryError]) -> str:
    if not failures:
        return ""
    return "; and these could not be removed: " + "; ".join(
        f"{name}: {exc}" for name, exc in sorted(failures.items())
    )


def _raise_failures(label: str, failures: Mapping[str, errors.ServiceRegistryError]) -> None:
    if failures:
        first = next(iter(failures.values()))
        raise type(first)(f"{label} kept" + _failure_text(failures)) from first


def _ignore_missing(action: Callable[[], object]) -> None:
    with contextlib.suppress(errors.NotFoundError):
        action()
