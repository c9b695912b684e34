"""The objects a service registry holds: namespaces, services and endpoints.

They validate on construction and are frozen: the library never mutates a caller's object, it
derives new ones with :meth:`pydantic.BaseModel.model_copy`. A bad field raises
:class:`~servregistry.errors.InvalidInputError` (a ``ValueError``) naming the field and the rule;
an empty name raises the seed's specific ``*NameNotProvidedError``.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from servregistry import errors

__all__ = ["Endpoint", "MetadataPair", "Namespace", "RegistryObject", "Service"]

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


class MetadataPair(_Frozen):
    """One metadata ``key: value`` pair, e.g. the owner pair ``owner: cnwan-operator``."""

    key: str
    value: str

    def __init__(self, key: str, value: str, /) -> None:
        super().__init__(key=key, value=value)


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
        return obj

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


@functools.lru_cache(maxsize=65536)
def _ip_version(address: str) -> int:
    """4 or 6 for a literal IP address (ValueError otherwise). Cached: an endpoint set's
    addresses are parsed when declared, read back and compared, thousands at a time."""
    return ipaddress.ip_address(address).version


RegistryObject = Namespace | Service | Endpoint
