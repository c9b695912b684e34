"""``RegistryNamespace``: a namespace in a service registry, owned by this stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, overload

import pulumi
import pulumi.dynamic

from pulumi_servregistry._common import RegistryInput, properties, resolve_args
from servregistry.providers import NamespaceProvider

__all__ = ["RegistryNamespace", "RegistryNamespaceArgs"]


@dataclass
class RegistryNamespaceArgs:
    """The inputs of a :class:`RegistryNamespace`.

    :param name: the namespace's name (changing it replaces the namespace).
    :param metadata: string pairs stored on the namespace (updated in place).
    :param registry: a registry URL or typed config; default: stack config
        ``servregistry:registry`` (changing where objects live replaces; connection details
        do not).
    :param force_delete: on delete, first remove our services in it; foreign ones are kept,
        and so is the namespace then.
    :param owner_key: owner metadata key (default: stack config ``servregistry:ownerKey``,
        else ``owner``).
    :param owner_value: owner metadata value (default: ``servregistry:ownerValue``, else
        ``cnwan-operator``).
    """

    name: pulumi.Input[str]
    metadata: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None
    registry: RegistryInput | None = None
    force_delete: pulumi.Input[bool] | None = None
    owner_key: pulumi.Input[str] | None = None
    owner_value: pulumi.Input[str] | None = None


class RegistryNamespace(pulumi.dynamic.Resource, module="servregistry", name="RegistryNamespace"):
    """A namespace in a service registry, created (or adopted, if it already carries our owner
    pair and stack) by this stack, and never taken from anyone else."""

    name: pulumi.Output[str]
    """The namespace's name."""
    metadata: pulumi.Output[dict[str, str]]
    """Its metadata as the registry holds it, without our owner and stack pairs."""
    registry_url: pulumi.Output[str]
    """The registry URL the provider used (never with credentials)."""
    owner_key: pulumi.Output[str]
    """The owner metadata key written on the namespace."""
    owner_value: pulumi.Output[str]
    """The owner metadata value written on the namespace."""
    stack: pulumi.Output[str]
    """``<project>_<stack>`` (lowercased, label-safe) recorded under ``pulumi-stack``: only
    this stack adopts or deletes it."""
    owned: pulumi.Output[bool]
    """Whether the registry's namespace carries our owner and stack pairs and is held by this
    resource (false after someone else took it over; a refresh shows it)."""
    native_id: pulumi.Output[str]
    """The backend's own id: etcd key, Cloud Map id, Service Directory resource name."""
    instance: pulumi.Output[str]
    """This resource instance's random id, drawn at create: with the resource's name it forms
    the ``pulumi-resource`` pair written on what it holds (see ``docs/ownership.md``)."""
    force_delete: pulumi.Output[bool | None]
    """Whether delete first removes our services in the namespace."""

    @overload
    def __init__(
        self,
        resource_name: str,
        args: RegistryNamespaceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        resource_name: str,
        name: pulumi.Input[str],
        metadata: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        registry: RegistryInput | None = None,
        force_delete: pulumi.Input[bool] | None = None,
        owner_key: pulumi.Input[str] | None = None,
        owner_value: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None: ...

    def __init__(self, resource_name: str, *args: Any, **kwargs: Any) -> None:
        resolved, opts = resolve_args(RegistryNamespaceArgs, args, kwargs)
        super().__init__(
            NamespaceProvider(),
            resource_name,
            properties(resource_name, resolved, owned=None),
            opts,
        )
