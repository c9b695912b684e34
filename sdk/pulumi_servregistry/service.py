"""``RegistryService``: a service inside a registry namespace, owned by this stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, overload

import pulumi
import pulumi.dynamic

from pulumi_servregistry._common import RegistryInput, properties, resolve_args
from servregistry.providers import ServiceProvider

__all__ = ["RegistryService", "RegistryServiceArgs"]


@dataclass
class RegistryServiceArgs:
    """The inputs of a :class:`RegistryService`.

    :param namespace: the namespace it belongs to (changing it replaces the service); pass a
        ``RegistryNamespace``'s ``name`` output so the namespace is created first.
    :param name: the service's name (changing it replaces the service).
    :param metadata: string pairs stored on the service (updated in place).
    :param registry: a registry URL or typed config; default: stack config
        ``servregistry:registry``.
    :param force_delete: on delete, first remove our endpoints in it; foreign ones are kept,
        and so is the service then.
    :param owner_key: owner metadata key (default ``servregistry:ownerKey``, else ``owner``).
    :param owner_value: owner value (default ``servregistry:ownerValue``, else
        ``cnwan-operator``).
    """

    namespace: pulumi.Input[str]
    name: pulumi.Input[str]
    metadata: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None
    registry: RegistryInput | None = None
    force_delete: pulumi.Input[bool] | None = None
    owner_key: pulumi.Input[str] | None = None
    owner_value: pulumi.Input[str] | None = None


class RegistryService(pulumi.dynamic.Resource, module="servregistry", name="RegistryService"):
    """A service in a registry namespace, created (or adopted, if it already carries our owner
    pair and stack) by this stack, and never taken from anyone else."""

    namespace: pulumi.Output[str]
    """The namespace the service belongs to."""
    name: pulumi.Output[str]
    """The service's name."""
    metadata: pulumi.Output[dict[str, str]]
    """Its metadata as the registry holds it, without our owner and stack pairs."""
    registry_url: pulumi.Output[str]
    """The registry URL the provider used (never with credentials)."""
    owner_key: pulumi.Output[str]
    """The owner metadata key written on the service."""
    owner_value: pulumi.Output[str]
    """The owner metadata value written on the service."""
    stack: pulumi.Output[str]
    """``<project>_<stack>`` (lowercased, label-safe) recorded under ``pulumi-stack``: only
    this stack adopts or deletes it."""
    owned: pulumi.Output[bool]
    """Whether the registry's service carries our owner and stack pairs and is held by this
    resource."""
    native_id: pulumi.Output[str]
    """The backend's own id: etcd key, Cloud Map id, Service Directory resource name."""
    instance: pulumi.Output[str]
    """This resource instance's random id, drawn at create: with the resource's name it forms
    the ``pulumi-resource`` pair written on what it holds (see ``docs/ownership.md``)."""
    force_delete: pulumi.Output[bool | None]
    """Whether delete first removes our endpoints in the service."""

    @overload
    def __init__(
        self,
        resource_name: str,
        args: RegistryServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        resource_name: str,
        namespace: pulumi.Input[str],
        name: pulumi.Input[str],
        metadata: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        registry: RegistryInput | None = None,
        force_delete: pulumi.Input[bool] | None = None,
        owner_key: pulumi.Input[str] | None = None,
        owner_value: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None: ...

    def __init__(self, resource_name: str, *args: Any, **kwargs: Any) -> None:
        resolved, opts = resolve_args(RegistryServiceArgs, args, kwargs)
        super().__init__(
            ServiceProvider(), resource_name, properties(resource_name, resolved, owned=None), opts
        )
