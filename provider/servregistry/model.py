"""The objects a service registry holds: namespaces, services and endpoints.

They validate on construction and are frozen: the library never mutates a caller's object, it
derives new ones with :meth:`pydantic.BaseModel.model_copy`. A bad field raises
:class:`~servregistry.errors.InvalidInputError` (a ``ValueError``) naming the field and the rule;
an empty name raises the seed's specific ``*NameNotProvidedError``. Thousands of endpoints at a
time are cheap to hold: ``Endpoint.trusted`` builds one from fields already proven to satisfy the
rules (what a backend's reader matched, what the Broker validated), and ``shared_metadata`` lets
many objects hold one read-only metadata map.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from servregistry import errors

__all__ = [
    "Endpoint",
    "MetadataPair",
    "Namespace",
    "RegistryObject",
    "Service",
    "endpoint_name",
    "refuse_reserved_keys",
    "require_name",
    "shared_metadata",
    "unstorable",
]

_NAME_ERRORS: dict[str, type[errors.InvalidInputError]] = {
    "ns_name": errors.NamespaceNameNotProvidedError,
    "serv_name": errors.ServiceNameNotProvidedError,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: which ``*NameNotProvidedError`` an empty ``name`` raises
    _name_error: ClassVar[type[errors.InvalidInputError]] = errors.InvalidInputError

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _to_invalid_input(type(self), exc) from exc
        _share_fields_set(self)


#: one set of field names per model and combination, held by every object built with it
_FIELDS_SETS: dict[tuple[type[BaseModel], frozenset[str]], set[str]] = {}


def _share_fields_set(obj: BaseModel) -> None:
    """Let ``obj`` hold the set of explicitly given field names that earlier objects of its
    model built the same way hold (pydantic keeps one set per object, about 0.7 KiB for an
    endpoint: more than its fields). Safe because nothing changes such a set in place: a frozen
    model refuses assignments, and pydantic copies the set before adding to it in a copy."""
    fields = obj.__pydantic_fields_set__
    shared = _FIELDS_SETS.setdefault((type(obj), frozenset(fields)), fields)
    if shared is not fields:
        object.__setattr__(obj, "__pydantic_fields_set__", shared)


def _to_invalid_input(model: type[_Frozen], exc: ValidationError) -> errors.InvalidInputError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    rule = str(first["msg"]).removeprefix("Value error, ")
    kind = model.__name__.lower()
    if first["type"] == "string_too_short" and len(first["loc"]) == 1:
        name_error = model._name_error if field == "name" else _NAME_ERRORS.get(field)
        if name_error is not None:
            return name_error(field=f"{kind}.{field}", rule=name_error.default_message)
    return errors.InvalidInputError(f"{kind}.{field}: {rule}", field=f"{kind}.{field}", rule=rule)


#: characters no backend can store (see ``unstorable``)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored faithfully, or None when it can.

    Every backend keeps text as UTF-8 (SQLite TEXT, etcd keys and JSON values, protobuf strings,
    AWS API JSON), so a lone surrogate such as ``"\\udc80"`` (what Python makes of undecodable
    bytes in a file name or a command-line argument) cannot be stored anywhere. A NUL character
    is refused too: Cloud Map's character rules exclude it, and where it can be stored, SQLite's
    own text functions and shell and every C-string tool show the text cut short at it. The
    rule is the model's, so every backend refuses the same strings before anything is written.
    """
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char, index = found.group(), found.start()
    if char == "\x00":
        return f"contains a NUL character at index {index}"
    return (
        f"contains a lone surrogate U+{ord(char):04X} at index {index}: not valid Unicode "
        "text (decode bytes as UTF-8 first)"
    )


def _storable(value: Any) -> Any:
    """A field validator run before the type check (which would refuse a lone surrogate with a
    vaguer message): a string must be storable."""
    reason = unstorable(value) if isinstance(value, str) else None
    if reason is not None:
        raise ValueError(f"{_shown(value)} {reason}")
    return value


def _shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def require_name(
    name: object, field: str, missing: type[errors.InvalidInputError] = errors.InvalidInputError
) -> str:
    """A name given as an argument (not inside a model object): a non-empty string a registry
    can store. ``missing`` is raised for an empty name; any other breach is an
    InvalidInputError naming ``field``."""
    if not name:
        raise missing(field=field)
    if not isinstance(name, str):
        raise errors.InvalidInputError(
            field=field, rule=f"must be a string, not {type(name).__name__}"
        )
    reason = unstorable(name)
    if reason is not None:
        raise errors.InvalidInputError(field=field, rule=f"{_shown(name)} {reason}")
    return name


def refuse_reserved_keys(metadata: Mapping[str, str], reserved: Iterable[str], field: str) -> None:
    """Raise InvalidInputError naming ``field`` and the key when user ``metadata`` holds a key
    the library writes itself (the owner key, the stack key): such a pair would be silently
    replaced on write, so it is refused instead."""
    clash = sorted(set(reserved) & set(metadata))
    if clash:
        keys = ", ".join(repr(k) for k in clash)
        raise errors.InvalidInputError(
            field=field,
            rule=f"metadata key {keys} is reserved: it holds the owner (or stack) pair, which "
            "is written by the library; remove it from the metadata",
        )


class MetadataPair(_Frozen):
    """One metadata ``key: value`` pair, e.g. the owner pair ``owner: cnwan-operator``:
    ``MetadataPair("owner", "me")`` or ``MetadataPair(key="owner", value="me")``."""

    key: str
    value: str

    def __init__(self, key: str, value: str) -> None:
        super().__init__(key=key, value=value)

    @field_validator("key", "value", mode="before")
    @classmethod
    def _text_storable(cls, value: Any) -> Any:
        return _storable(value)


Metadata = dict[str, str]

#: set while :meth:`_Named.stored` builds an object from what a registry holds
_READING_STORED: contextvars.ContextVar[bool] = contextvars.ContextVar("stored", default=False)


class _Named(_Frozen):
    name: str = Field(min_length=1)
    metadata: Metadata = Field(default_factory=dict)
    #: why a stored object could not be read (empty for every object that could). An object we
    #: cannot decode has no owner pair we can see, so it is foreign: counted, reported, never
    #: changed or deleted. Only :meth:`stored` sets it.
    unreadable: str = ""

    @classmethod
    def stored(cls, data: Mapping[str, Any], unreadable: str = "") -> Any:
        """An object as read from a registry, written by anyone: the rules that bind what *we*
        write (an endpoint address must be an IP literal) are not applied, so an empty address
        or a hostname is represented as stored; the shape (names, types, port range) still is.
        ``unreadable`` marks a placeholder for a stored object that could not be decoded at all
        (its ``data`` then carries names only; everything else takes a neutral value)."""
        full = dict(data)
        if unreadable:
            full.setdefault("metadata", {})
            if cls is Endpoint:
                full.setdefault("address", "")
                full.setdefault("port", 0)
        full["unreadable"] = unreadable
        obj = cls.__new__(cls)
        token = _READING_STORED.set(True)
        try:
            BaseModel.__init__(obj, **full)  # the field rules, without the positional __init__
        except ValidationError as exc:
            raise _to_invalid_input(cls, exc) from exc
        finally:
            _READING_STORED.reset(token)
        _share_fields_set(obj)
        return obj

    @field_validator("name", "ns_name", "serv_name", "address", mode="before", check_fields=False)
    @classmethod
    def _text_storable(cls, value: Any) -> Any:
        return _storable(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_storable(cls, metadata: Any) -> Any:
        for key, value in metadata.items() if isinstance(metadata, Mapping) else ():
            reason = unstorable(key) if isinstance(key, str) else None
            if reason is not None:
                raise ValueError(f"key {_shown(key)} {reason}")
            reason = unstorable(value) if isinstance(value, str) else None
            if reason is not None:
                raise ValueError(f"value of key {_shown(key)} {reason}")
        return metadata

    def has(self, pair: MetadataPair) -> bool:
        """Whether this object's metadata holds exactly ``pair``."""
        return self.metadata.get(pair.key) == pair.value


class Namespace(_Named):
    """A registry namespace: ``Namespace(name, metadata={})``."""

    _name_error = errors.NamespaceNameNotProvidedError

    def __init__(self, name: str, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(name=name, metadata=dict(metadata or {}))


class Service(_Named):
    """A service inside a namespace: ``Service(name, ns_name, metadata={})``."""

    _name_error = errors.ServiceNameNotProvidedError
    ns_name: str = Field(min_length=1)

    def __init__(self, name: str, ns_name: str, metadata: Mapping[str, str] | None = None) -> None:
        data: dict[str, Any] = {"name": name, "ns_name": ns_name, "metadata": dict(metadata or {})}
        super().__init__(**data)


class Endpoint(_Named):
    """An address and port of a service:
    ``Endpoint(name, ns_name, serv_name, address, port, metadata={})``.

    ``address`` must be a literal IPv4 or IPv6 address; ``port`` an integer in 0..65535 (a float
    with no fractional part, as Pulumi sends numbers, is accepted).
    """

    _name_error = errors.EndpointNameNotProvidedError
    ns_name: str = Field(min_length=1)
    serv_name: str = Field(min_length=1)
    address: str
    port: int = Field(ge=0, le=65535)

    def __init__(
        self,
        name: str,
        ns_name: str,
        serv_name: str,
        address: str,
        port: int,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "name": name,
            "ns_name": ns_name,
            "serv_name": serv_name,
            "address": address,
            "port": port,
            "metadata": dict(metadata or {}),
        }
        super().__init__(**data)

    @field_validator("address")
    @classmethod
    def _address_is_ip(cls, value: str) -> str:
        if _READING_STORED.get():
            return value  # what others wrote is represented as it is (see ``stored``)
        try:
            _ip_version(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a valid IPv4 or IPv6 address (hostnames are not accepted)"
            ) from None
        return value

    @property
    def ip_version(self) -> int:
        """4 or 6."""
        return _ip_version(self.address)

    @classmethod
    def trusted(
        cls,
        name: str,
        ns_name: str,
        serv_name: str,
        address: str,
        port: int,
        metadata: Metadata,
        unreadable: str = "",
    ) -> Endpoint:
        """An endpoint built from fields its caller has already proven to satisfy every rule
        :meth:`stored` applies, without running them again: names non-empty, every string
        storable (see :func:`unstorable`), ``port`` an ``int`` in 0..65535, ``metadata`` a
        ``dict`` of strings. The result equals what :meth:`stored` builds from the same
        fields (``tests/core/test_model_fast.py`` compares the two); it exists because an
        endpoint set is read and compared thousands of endpoints at a time, and running the
        rules again on values that were just proven costs most of a cold read.

        Its callers: the etcd layout's reader, for values its one-pattern parser matched
        (plain ASCII scalars, a port of at most five digits), and the Broker, for an endpoint
        it validated, moved under a validated service and stamped with validated pairs.
        """
        obj = cls.__new__(cls)
        _set = object.__setattr__
        _set(
            obj,
            "__dict__",
            {
                "name": name,
                "metadata": metadata,
                "unreadable": unreadable,
                "ns_name": ns_name,
                "serv_name": serv_name,
                "address": address,
                "port": port,
            },
        )
        # every field is given, as with ``stored`` (see _share_fields_set)
        _set(obj, "__pydantic_fields_set__", _ENDPOINT_FIELDS)
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        return obj


_ENDPOINT_FIELDS = _FIELDS_SETS.setdefault(
    (Endpoint, frozenset(Endpoint.model_fields)), set(Endpoint.model_fields)
)


class _SharedMetadata(dict[str, str]):
    """A metadata map shared by many objects (see :func:`shared_metadata`): read-only, so that
    changing one object's metadata can never change another's. A copy (``dict(m)``,
    :func:`copy.copy`, a pickle) is an ordinary ``dict``."""

    __slots__ = ()

    def _refuse(self) -> NoReturn:
        raise TypeError(
            "this metadata map is shared by many objects and read-only; copy it first: "
            "dict(obj.metadata)"
        )

    def __setitem__(self, key: str, value: str) -> NoReturn:
        self._refuse()

    def __delitem__(self, key: str) -> NoReturn:
        self._refuse()

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse()

    def clear(self) -> NoReturn:
        self._refuse()

    def pop(self, *args: Any) -> NoReturn:
        self._refuse()

    def popitem(self) -> NoReturn:
        self._refuse()

    def setdefault(self, *args: Any) -> NoReturn:
        self._refuse()

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __reduce__(self) -> tuple[type[dict[str, str]], tuple[dict[str, str]]]:
        return dict, (dict(self),)


def shared_metadata(pairs: Mapping[str, str]) -> dict[str, str]:
    """``pairs`` as a read-only ``dict`` that many objects can hold at once: thousands of
    endpoints of one service carry the same few metadata maps (the owner and stack pairs, a
    zone), and one map per distinct content is kept instead of one per endpoint. Only for
    pairs already validated (see :meth:`Endpoint.trusted`)."""
    return pairs if type(pairs) is _SharedMetadata else _SharedMetadata(pairs)


@functools.lru_cache(maxsize=65536)
def _ip_version(address: str) -> int:
    """4 or 6 for a literal IP address (ValueError otherwise). Cached: an endpoint set's
    addresses are parsed when declared, read back and compared, thousands at a time."""
    return ipaddress.ip_address(address).version


RegistryObject = Namespace | Service | Endpoint


def endpoint_name(service_name: str, address: str, port: int) -> str:
    """The seed's stable endpoint name: ``serv-161e02099b`` for ``10.10.10.10``:``3333``."""
    digest = hashlib.sha256(f"{address}-{port}".encode()).hexdigest()
    return f"{service_name}-{digest[:10]}"
