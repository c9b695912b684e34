"""``RegistryEndpointSet``: the endpoints this stack registers in one service."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import pulumi
import pulumi.dynamic

from pulumi_servregistry._common import RegistryInput, properties, resolve_args
from servregistry.providers import EndpointSetProvider
from servregistry.providers.endpoint_set import as_declared

__all__ = ["EndpointArgs", "RegistryEndpointSet", "RegistryEndpointSetArgs"]


@dataclass
class EndpointArgs:
    """One endpoint: an IP ``address`` and ``port``; without a ``name`` the seed's stable name
    ``<service>-<sha256(address-port)[:10]>`` is used."""

    address: pulumi.Input[str]
    port: pulumi.Input[int]
    name: pulumi.Input[str] | None = None
    metadata: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None


EndpointInput = EndpointArgs | Mapping[str, Any]


@dataclass
class RegistryEndpointSetArgs:
    """The inputs of a :class:`RegistryEndpointSet`.

    :param namespace: the namespace (changing it replaces the set).
    :param service: the service (changing it replaces the set); pass a ``RegistryService``'s
        ``name`` output so the service is created first.
    :param endpoints: the endpoints we want; each is ``EndpointArgs`` or a dict with
        ``address``, ``port`` and optional ``name`` and ``metadata``. Changes update in place:
        only the difference is written. Endpoints in the service that are not ours are left
        alone and listed in ``foreign_endpoints``.
    :param registry: a registry URL or typed config; default: stack config
        ``servregistry:registry``.
    :param owner_key: owner metadata key (default ``servregistry:ownerKey``, else ``owner``).
    :param owner_value: owner value (default ``servregistry:ownerValue``, else
        ``cnwan-operator``).
    """

    namespace: pulumi.Input[str]
    service: pulumi.Input[str]
    endpoints: pulumi.Input[Sequence[pulumi.Input[EndpointInput]]]
    registry: RegistryInput | None = None
    owner_key: pulumi.Input[str] | None = None
    owner_value: pulumi.Input[str] | None = None


def _endpoint_dict(endpoint: Any) -> Any:
    if isinstance(endpoint, EndpointArgs):
        return {k: v for k, v in dataclasses.asdict(endpoint).items() if v is not None}
    return endpoint


class RegistryEndpointSet(
    pulumi.dynamic.Resource, module="servregistry", name="RegistryEndpointSet"
):
    """The endpoints this stack owns in one service, reconciled as a set."""

    namespace: pulumi.Output[str]
    """The namespace."""
    service: pulumi.Output[str]
    """The service."""
    endpoints: pulumi.Output[list[dict[str, Any]]]
    """Our endpoints as declared and registered (``name``, ``address``, ``port``,
    ``metadata``), by name; an endpoint declared without a name has its stable name. The stack
    state holds them once, in the inputs: this is built from them, not read back."""
    endpoints_sha256: pulumi.Output[str]
    """The sha256 of the endpoints last applied or refreshed, in canonical form (what the
    state's outputs keep instead of the list)."""
    endpoint_count: pulumi.Output[int]
    """The number of endpoints last applied or refreshed."""
    foreign_endpoints: pulumi.Output[list[str]]
    """Names of endpoints in the service that are not ours and were left alone."""
    endpoint_errors: pulumi.Output[dict[str, str]]
    """Endpoint name → problem seen by the last refresh (e.g. taken over by someone else)."""
    registry_url: pulumi.Output[str]
    """The registry URL the provider used (never with credentials)."""
    owner_key: pulumi.Output[str]
    """The owner metadata key written on our endpoints."""
    owner_value: pulumi.Output[str]
    """The owner metadata value written on our endpoints."""
    stack: pulumi.Output[str]
    """``<project>_<stack>`` (lowercased, label-safe) recorded under ``pulumi-stack`` on our
    endpoints."""
    native_id: pulumi.Output[str]
    """The service's id in the backend (etcd key, Cloud Map id, resource name)."""
    instance: pulumi.Output[str]
    """This resource instance's random id, drawn at create: with the resource's name it forms
    the ``pulumi-resource`` pair written on what it holds (see ``docs/ownership.md``)."""

    @overload
    def __init__(
        self,
        resource_name: str,
        args: RegistryEndpointSetArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        resource_name: str,
        namespace: pulumi.Input[str],
        service: pulumi.Input[str],
        endpoints: pulumi.Input[Sequence[pulumi.Input[EndpointInput]]],
        registry: RegistryInput | None = None,
        owner_key: pulumi.Input[str] | None = None,
        owner_value: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None: ...

    def __init__(self, resource_name: str, *args: Any, **kwargs: Any) -> None:
        resolved, opts = resolve_args(RegistryEndpointSetArgs, args, kwargs)
        endpoints: Any = resolved.endpoints
        if isinstance(endpoints, Sequence):
            endpoints = [_endpoint_dict(e) for e in endpoints]
        else:
            endpoints = pulumi.Output.from_input(endpoints).apply(
                lambda items: [_endpoint_dict(e) for e in items]
            )
        props = properties(
            resource_name,
            resolved,
            endpoints=endpoints,
            foreign_endpoints=None,
            endpoint_errors=None,
            endpoints_sha256=None,
            endpoint_count=None,
        )
        super().__init__(EndpointSetProvider(), resource_name, props, opts)
        # the outputs do not repeat the list: the SDK resolves it from the inputs, as declared;
        # names and order as check gives them. Nested applies, not ``Output.all``: that would
        # lift every value of every endpoint into an Output of its own (the list holds plain
        # values, as the engine resolved them)
        declared = self.endpoints
        self.endpoints = self.service.apply(
            lambda service: declared.apply(lambda items: as_declared(service, items))
        )
