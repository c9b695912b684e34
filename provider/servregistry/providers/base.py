"""What the three dynamic providers share: settings from inputs and stack config, the registry
client cache, the Broker, and ``check`` failures.

A provider instance holds no state worth pickling: its class is pickled by reference (a few
hundred bytes) and ``configure`` fills the stack config in the provider process. Registry
clients are built lazily, once per URL and process, and shared by every resource and thread.
Credentials (the etcd password) come from the stack secret ``servregistry:etcdPassword`` or the
backend's environment; they are never inputs, outputs or pickled.
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.dynamic import CheckFailure, ConfigureRequest, DiffResult, ResourceProvider
from pulumi.output import Unknown

from servregistry import errors
from servregistry.broker import DEFAULT_OWNER_KEY, DEFAULT_OWNER_VALUE, Broker
from servregistry.model import MetadataPair, RegistryObject
from servregistry.providers import reporting
from servregistry.providers.ownership import (
    HOLDER_KEY,
    INSTANCE_LENGTH,
    declarations,
    holder_value,
)
from servregistry.providers.reporting import warn
from servregistry.registry import ServiceRegistry, open_registry, registry_location

#: the metadata key that records which Pulumi stack created an object (value
#: ``<project>_<stack>``, lowercased and label-safe)
STACK_KEY = "pulumi-stack"
#: stack config keys the providers read
CONFIG_REGISTRY = "servregistry:registry"
CONFIG_OWNER_KEY = "servregistry:ownerKey"
CONFIG_OWNER_VALUE = "servregistry:ownerValue"
CONFIG_ETCD_PASSWORD = "servregistry:etcdPassword"
#: inputs whose change re-stamps an object: it is deleted as the old owner, created as the new
OWNERSHIP = ("owner_key", "owner_value", "stack")

Props = dict[str, Any]

_registries: dict[tuple[str, str | None], ServiceRegistry] = {}
_registries_lock = threading.Lock()


def cached_registry(url: str, password: str | None = None) -> ServiceRegistry:
    """One registry client per URL (and password) per process, built on first use."""
    key = (url, password)
    with _registries_lock:
        registry = _registries.get(key)
        if registry is None:
            registry = open_registry(url)
            use_password = getattr(registry, "use_password", None)
            if password and use_password is not None:
                use_password(password)
            _registries[key] = registry
        return registry


#: the types of most input values (asked about thousands of times in a large endpoint set)
_KNOWN_SCALARS = frozenset({str, int, float, bool, type(None)})


def is_unknown(value: Any) -> bool:
    """Whether ``value`` (or anything inside it) is not known yet, as during a preview."""
    if type(value) in _KNOWN_SCALARS:
        return False
    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return False


def user_props(props: Mapping[str, Any]) -> Props:
    """``props`` without the engine's ``__provider`` and other ``__`` keys."""
    return {k: v for k, v in props.items() if not k.startswith("__")}


def show_progress() -> None:
    """Send the ``servregistry`` logger's INFO lines (endpoint-set plans, progress of long
    concurrent writes) to stderr, which the Pulumi CLI shows; once per process."""
    logger = logging.getLogger("servregistry")
    if any(getattr(h, "servregistry_progress", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("servregistry: %(message)s"))
    handler.servregistry_progress = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # printed once, whatever the root logger does


@dataclass(frozen=True)
class Settings:
    """Where and as whom a resource writes, resolved from its inputs and the stack config."""

    url: str
    owner: MetadataPair
    stack: MetadataPair | None
    password: str | None
    #: the resource's holder pair (see ``ownership``); its value is empty for a resource whose
    #: state predates holders, which then holds only unmarked objects it declared
    holder: MetadataPair | None = None
    instance: str | None = None

    @property
    def location(self) -> str:
        return registry_location(self.url)

    def registry(self) -> ServiceRegistry:
        return cached_registry(self.url, self.password)

    def broker(self) -> Broker:
        return Broker(self.registry(), owner=self.owner, stack=self.stack, holder=self.holder)

    def outputs(self) -> Props:
        """The resolved settings, as stored in state (no credentials)."""
        return {
            "registry_url": self.url,
            "owner_key": self.owner.key,
            "owner_value": self.owner.value,
            "instance": self.instance,
        }


@functools.lru_cache(maxsize=256)
def _settings(
    url: str,
    owner_key: str,
    owner_value: str,
    stack: str | None,
    password: str | None,
    name: str | None,
    instance: str | None,
) -> Settings:
    """Settings are immutable and a check of an endpoint set asks for the same ones once per
    endpoint: each distinct combination is built once per process."""
    return Settings(
        url=url,
        owner=MetadataPair(owner_key, owner_value),
        stack=MetadataPair(STACK_KEY, stack) if stack else None,
        password=password,
        holder=MetadataPair(HOLDER_KEY, holder_value(name, instance) if instance else ""),
        instance=instance,
    )


@dataclass(frozen=True)
class WriteRules:
    """The metadata keys user input may not hold, and the registry (and a Broker stamping as
    the resource will) that checks an object as it would be written."""

    reserved: frozenset[str]
    broker: Broker
    registry: ServiceRegistry


class RegistryProvider(ResourceProvider):
    """Base of the three providers: stack config, settings, and check helpers."""

    serialize_as_secret_always = False

    def __init__(self) -> None:
        self._config: dict[str, str | None] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}  # nothing instance-specific: configure() refills it in the provider process

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._config = {}

    def configure(self, req: ConfigureRequest) -> None:
        show_progress()  # configure runs only in the provider process
        reporting.install()
        # everything imported so far lives as long as the process: keep it out of every later
        # full garbage collection (a large endpoint set's collection then scans only its own)
        gc.freeze()
        self._config = {
            key: _text(req.config.get(key))
            for key in (CONFIG_REGISTRY, CONFIG_OWNER_KEY, CONFIG_OWNER_VALUE, CONFIG_ETCD_PASSWORD)
        }

    def settings(self, props: Mapping[str, Any], instance: str | None = None) -> Settings:
        """Resolve the registry URL and owner pair: the resource's inputs first, then the
        stack config, then the seed's defaults (``owner`` / ``cnwan-operator``). The holder
        pair comes from ``resource_name`` and ``instance`` (the argument, else the state's)."""
        url = (
            props.get("registry") or props.get("registry_url") or self._config.get(CONFIG_REGISTRY)
        )
        if not url:
            raise errors.InvalidInputError(
                field="registry",
                rule="no registry given: set the resource's registry input or the stack config "
                "servregistry:registry (e.g. sqlite:///abs/path/registry.db)",
            )
        instance = instance or props.get("instance") or None
        args = (
            str(url),
            props.get("owner_key") or self._config.get(CONFIG_OWNER_KEY) or DEFAULT_OWNER_KEY,
            props.get("owner_value") or self._config.get(CONFIG_OWNER_VALUE) or DEFAULT_OWNER_VALUE,
            str(props["stack"]) if props.get("stack") else None,
            self._config.get(CONFIG_ETCD_PASSWORD),
            props.get("resource_name"),
            str(instance) if instance else None,
        )
        try:
            return _settings(*args)
        except TypeError:  # an input of the wrong type (unhashable): its own error, uncached
            return _settings.__wrapped__(*args)

    def check_settings(self, news: Mapping[str, Any], failures: list[CheckFailure]) -> bool:
        """Validate the registry URL and owner inputs; False when unknown or invalid."""
        if any(
            is_unknown(news.get(k))
            for k in ("registry", "owner_key", "owner_value", "stack", "resource_name")
        ):
            return False
        try:
            settings = self.settings(news)
            settings.location  # noqa: B018 - parses the URL
        except errors.InvalidInputError as exc:
            failures.append(CheckFailure(exc.field or "registry", exc.rule or str(exc)))
            return False
        for key in ("owner_key", "owner_value", "resource_name"):
            value = news.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                failures.append(CheckFailure(key, "must be a non-empty string"))
                return False
        return True

    def diff_identity(
        self,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        identity: tuple[str, ...],
        changes: bool,
    ) -> DiffResult:
        """The diff of a resource whose ``identity`` inputs, registry location, owner pair and
        stack replace it, and whose other inputs changed when ``changes`` is true.

        A replacement that keeps the same identity (a new owner pair or stack) deletes first,
        since the new object reuses the old one's name; connection-only changes are no change.
        A new resource name (a rename with an alias) and state without an instance id (written
        before holders existed) update in place: the update writes the holder pair.
        """
        changes = (
            changes
            or not olds.get("instance")
            or changed(olds.get("resource_name"), news.get("resource_name"))
        )
        replaces = [k for k in identity if changed(olds.get(k), news.get(k))]
        if any(is_unknown(news.get(k)) for k in ("registry", *OWNERSHIP)):
            replaces.append("registry")
        else:
            new, old = self.settings(news), self.settings(olds)
            if new.location != old.location:
                replaces.append("registry")
            moved = {
                "owner_key": new.owner.key != old.owner.key,
                "owner_value": new.owner.value != old.owner.value,
                "stack": new.stack != old.stack,
            }
            replaces.extend(k for k, differs in moved.items() if differs)
        same_identity = not any(k in replaces for k in (*identity, "registry"))
        return DiffResult(
            changes=bool(replaces) or changes,
            replaces=replaces,
            delete_before_replace=bool(replaces) and same_identity,
        )

    def check_object(
        self,
        news: Mapping[str, Any],
        build: Callable[[], RegistryObject],
        failures: list[CheckFailure],
        settings_ok: bool,
        field_prefix: str = "",
        rules: WriteRules | None = None,
    ) -> RegistryObject | None:
        """Build a model object from inputs and validate it (model rules, then the backend's
        rules when the registry is known); record one CheckFailure per problem. ``rules`` are
        :meth:`write_rules` of ``news``, when the caller checks many objects with them."""
        try:
            obj = build()
        except errors.InvalidInputError as exc:
            failures.append(CheckFailure(field_prefix + _input_field(exc), exc.rule or str(exc)))
            return None
        if settings_ok:
            rules = rules or self.write_rules(news)
            clash = sorted(rules.reserved.intersection(obj.metadata))
            if clash:
                failures.append(
                    CheckFailure(
                        f"{field_prefix}metadata",
                        f"keys {clash} are reserved for the owner, stack and holder pairs",
                    )
                )
                return None
            try:
                rules.registry.validate(rules.broker.stamp(obj))
            except errors.InvalidInputError as exc:
                failures.append(
                    CheckFailure(field_prefix + _input_field(exc), exc.rule or str(exc))
                )
                return None
        return obj

    def write_rules(self, news: Mapping[str, Any]) -> WriteRules:
        """What :meth:`check_object` checks an object against, for valid settings ``news``."""
        settings = self.settings(news)
        # validate what will really be written, with an instance id of the real length
        broker = self.settings(news, instance="0" * INSTANCE_LENGTH).broker()
        return WriteRules(
            frozenset({settings.owner.key, STACK_KEY, HOLDER_KEY}), broker, settings.registry()
        )

    def declare(
        self,
        news: Mapping[str, Any],
        kind: str,
        objects: Mapping[str, tuple[str, ...]],
        failures: list[CheckFailure],
    ) -> None:
        """Record that this resource declares ``objects`` (input field → object path); add a
        failure naming both resources for each one another resource of the stack declared.
        Skipped while the registry, stack or resource name is unknown (as in a preview)."""
        name = news.get("resource_name")
        if not isinstance(name, str) or not objects:
            return
        try:
            location = self.settings(news).location
        except errors.InvalidInputError:
            return
        stack = str(news.get("stack") or "")
        for field, path in objects.items():
            other = declarations.claim((stack, location, *path), kind, name)
            if other is not None:
                what = path[0] + " " + "/".join(path[1:])
                failures.append(
                    CheckFailure(
                        field,
                        f"{what} is declared by both {other} and {kind} {name!r} of this "
                        "stack; an object belongs to one resource: declare it once "
                        "(docs/ownership.md)",
                    )
                )

    def preflight(
        self,
        news: Mapping[str, Any],
        probe: Callable[[ServiceRegistry, Broker, str], list[CheckFailure]],
        failures: list[CheckFailure],
    ) -> None:
        """Read (never write) the registry so that ``preview`` tells what ``up`` would find:
        ``probe`` returns a failure per declared name someone else holds. A registry that
        cannot be read is a warning here (``up`` fails with the error itself)."""
        settings = self.settings(news)
        try:
            failures.extend(probe(settings.registry(), settings.broker(), settings.url))
        except errors.NotFoundError:
            pass  # nothing there yet: nothing in the way
        except errors.ServiceRegistryError as exc:
            warn(
                f"could not read {settings.location} to check this resource's names: "
                f"{reporting.user_message(exc)}"
            )


def changed(old: Any, new: Any) -> bool:
    """Whether an input changed (an unknown new value may have)."""
    return is_unknown(new) or old != new


def check_metadata(value: Any, field: str, failures: list[CheckFailure]) -> dict[str, str] | None:
    """A metadata input must be a map of strings to strings."""
    if value is None:
        return {}
    if is_unknown(value):
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        failures.append(CheckFailure(field, "must be a map of strings to strings"))
        return None
    return dict(value)


def check_name(value: Any, field: str, failures: list[CheckFailure]) -> str | None:
    """A name input must be a non-empty string (None when unknown or invalid)."""
    if is_unknown(value):
        return None
    if not isinstance(value, str) or not value:
        failures.append(CheckFailure(field, "must be a non-empty string"))
        return None
    return value


def foreign_message(kind: str, obj: RegistryObject, broker: Broker, location: str) -> str:
    """Why a declared ``obj`` that exists and is not ours cannot be had, and what to do."""
    return (
        f"{kind} {obj.name!r} already exists in {location} and is not ours "
        f"({broker.describe_owner(obj)}); it was left unchanged. Pick another name, or have "
        f"its owner remove it."
    )


def refuse_foreign(kind: str, obj: RegistryObject, broker: Broker, location: str) -> None:
    """Raise when ``obj`` exists but is not ours: we never adopt or change it."""
    if not broker.owns(obj):
        raise errors.ServiceRegistryError(foreign_message(kind, obj, broker, location))


def _input_field(exc: errors.InvalidInputError) -> str:
    """Map a model field (``endpoint.address``) onto the resource input name (``address``)."""
    field = exc.field or ""
    last = field.split(".")[-1] if field else "name"
    return {"ns_name": "namespace", "serv_name": "service"}.get(last, last)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
