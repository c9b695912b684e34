"""Typed registry locations, Pulumi-style input objects: each builds the URL ``open_registry``
understands (the grammar is ``servregistry.urls``; these are its dataclasses under the names
Pulumi programs expect).

Pass one as a resource's ``registry`` input, or set its ``url`` as the stack config
``servregistry:registry``. None of them holds a credential: an etcd password comes from the
stack secret ``servregistry:etcdPassword`` (or ``$SERVREGISTRY_ETCD_PASSWORD`` where the
provider runs), cloud credentials from boto3's chain or Application Default Credentials.

The names of release 0.1.0 (``SqliteRegistry``, ``EtcdRegistry``, ``CloudMapRegistry``,
``ServiceDirectoryRegistry``) still work for one release and warn (``DeprecationWarning``): they
collided with the live backend classes of the same names in ``servregistry.backends``.
"""

from __future__ import annotations

import warnings
from typing import Any

from servregistry.urls import CloudMapUrl, EtcdUrl, ServiceDirectoryUrl, SqliteUrl

__all__ = [
    "CloudMapRegistryArgs",
    "EtcdRegistryArgs",
    "RegistryConfig",
    "ServiceDirectoryRegistryArgs",
    "SqliteRegistryArgs",
]


class SqliteRegistryArgs(SqliteUrl):
    """The embedded registry: ``SqliteRegistryArgs(path)``, one SQLite file (made absolute, so
    every process agrees on it)."""


class EtcdRegistryArgs(EtcdUrl):
    """etcd: ``EtcdRegistryArgs(endpoints, prefix=None, user=None, ca_cert=None, cert_key=None,
    cert_cert=None, tls=False, timeout=None)``, ``endpoints`` as ``host:port``.

    Which endpoints, the user, TLS files and the timeout are connection details: changing them
    replaces nothing. Only the prefix is part of the objects' identity.
    """


class CloudMapRegistryArgs(CloudMapUrl):
    """AWS Cloud Map: ``CloudMapRegistryArgs(region, endpoint_url=None, profile=None)``;
    ``endpoint_url`` for a local or private endpoint."""


class ServiceDirectoryRegistryArgs(ServiceDirectoryUrl):
    """Google Service Directory: ``ServiceDirectoryRegistryArgs(project, region,
    endpoint=None)``; ``endpoint`` (``host:port``) talks to an emulator without TLS or
    credentials."""


RegistryConfig = (
    SqliteRegistryArgs | EtcdRegistryArgs | CloudMapRegistryArgs | ServiceDirectoryRegistryArgs
)

#: the names of release 0.1.0 → their replacements
DEPRECATED = {
    "SqliteRegistry": SqliteRegistryArgs,
    "EtcdRegistry": EtcdRegistryArgs,
    "CloudMapRegistry": CloudMapRegistryArgs,
    "ServiceDirectoryRegistry": ServiceDirectoryRegistryArgs,
}


def deprecated(name: str) -> Any:
    """The replacement of a deprecated name, with a warning; AttributeError for any other."""
    replacement = DEPRECATED.get(name)
    if replacement is None:
        raise AttributeError(name)
    warnings.warn(
        f"pulumi_servregistry.{name} is deprecated and will be removed in the next release; "
        f"use {replacement.__name__}",
        DeprecationWarning,
        stacklevel=3,
    )
    return replacement


def __getattr__(name: str) -> Any:
    return deprecated(name)
