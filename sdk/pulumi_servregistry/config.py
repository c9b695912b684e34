"""Typed registry locations: each builds the URL ``open_registry`` understands.

Pass one as a resource's ``registry`` input, or set its ``url`` as the stack config
``servregistry:registry``. None of them holds a credential: an etcd password comes from the
stack secret ``servregistry:etcdPassword`` (or ``$SERVREGISTRY_ETCD_PASSWORD`` where the
provider runs), cloud credentials from boto3's chain or Application Default Credentials.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = [
    "CloudMapRegistry",
    "EtcdRegistry",
    "RegistryConfig",
    "ServiceDirectoryRegistry",
    "SqliteRegistry",
]


def _query(**options: object) -> str:
    pairs = {k: str(v) for k, v in options.items() if v is not None}
    return f"?{urlencode(pairs)}" if pairs else ""


@dataclass(frozen=True)
class SqliteRegistry:
    """The embedded registry: one SQLite file (made absolute, so every process agrees)."""

    path: str

    @property
    def url(self) -> str:
        return f"sqlite://{os.path.abspath(self.path)}"


@dataclass(frozen=True)
class EtcdRegistry:
    """etcd in the CN-WAN layout under ``prefix``; ``endpoints`` as ``host:port``.

    Which endpoints, the user, TLS files and the timeout are connection details: changing them
    replaces nothing. Only the prefix is part of the objects' identity.
    """

    endpoints: Sequence[str]
    prefix: str | None = None
    user: str | None = None
    ca_cert: str | None = None
    cert_key: str | None = None
    cert_cert: str | None = None
    tls: bool = False
    timeout: float | None = None

    @property
    def url(self) -> str:
        scheme = "etcds" if self.tls or self.ca_cert else "etcd"
        query = _query(
            prefix=self.prefix,
            user=self.user,
            ca_cert=self.ca_cert,
            cert_key=self.cert_key,
            cert_cert=self.cert_cert,
            timeout=self.timeout,
        )
        return f"{scheme}://{','.join(self.endpoints)}/{query}"


@dataclass(frozen=True)
class CloudMapRegistry:
    """AWS Cloud Map in ``region``; ``endpoint_url`` for a local or private endpoint."""

    region: str
    endpoint_url: str | None = None
    profile: str | None = None

    @property
    def url(self) -> str:
        query = _query(endpoint_url=self.endpoint_url, profile=self.profile)
        return f"cloudmap://{self.region}{query}"


@dataclass(frozen=True)
class ServiceDirectoryRegistry:
    """Google Service Directory in ``project``/``region``; ``endpoint`` (``host:port``) talks to
    an emulator without TLS or credentials."""

    project: str
    region: str
    endpoint: str | None = None

    @property
    def url(self) -> str:
        return f"servicedirectory://{self.project}/{self.region}{_query(endpoint=self.endpoint)}"


RegistryConfig = SqliteRegistry | EtcdRegistry | CloudMapRegistry | ServiceDirectoryRegistry
