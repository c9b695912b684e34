"""What the three resources share: turning typed arguments into dynamic-resource properties."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import pulumi

from pulumi_servregistry.config import RegistryConfig
from servregistry.providers.ownership import label
from servregistry.urls import CloudMapUrl, EtcdUrl, ServiceDirectoryUrl, SqliteUrl

RegistryInput = str | RegistryConfig | pulumi.Output[str]
_CONFIGS = (SqliteUrl, EtcdUrl, CloudMapUrl, ServiceDirectoryUrl)
#: outputs every resource computes (seeded with None so they become Output attributes)
COMPUTED = ("registry_url", "owner_key", "owner_value", "native_id", "instance")

_Args = TypeVar("_Args")


def registry_url(registry: RegistryInput | None) -> pulumi.Input[str] | None:
    """A typed registry config becomes its URL; a string or Output passes through."""
    return registry.url if isinstance(registry, _CONFIGS) else registry


def stack_label() -> str:
    """``<project>_<stack>`` of the running program, recorded on every object we create.

    Written so that every backend can hold it, Service Directory's namespace labels included
    (lowercase letters, digits, ``_`` and ``-``, at most 63 characters): other characters
    become ``-``, and a longer value is cut and suffixed with a hash of the original.
    """
    return label(f"{pulumi.get_project()}_{pulumi.get_stack()}")


def resolve_args(
    args_type: type[_Args], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[_Args, pulumi.ResourceOptions | None]:
    """Accept ``Resource(name, ArgsObject, opts)`` and ``Resource(name, field, ..., opts=...)``."""
    opts = kwargs.pop("opts", None)
    if args and isinstance(args[0], args_type):
        if len(args) > 2 or kwargs:
            raise TypeError(f"pass either a {args_type.__name__} or keyword arguments, not both")
        if len(args) == 2:
            opts = args[1]
        return args[0], opts
    return args_type(*args, **kwargs), opts


def properties(resource_name: str, args: Any, **extra: Any) -> dict[str, Any]:
    """The dynamic resource's property dict: the args' fields (registry as a URL), the stack
    label, the resource's logical name (written, with its instance id, on every object it
    holds: see ``docs/ownership.md``), and the computed outputs seeded with None."""
    props = {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}
    props["registry"] = registry_url(props.get("registry"))
    props.setdefault("stack", stack_label())
    props["resource_name"] = resource_name
    for key in COMPUTED:
        props.setdefault(key, None)
    props.update(extra)
    return props
