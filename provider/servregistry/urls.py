"""The registry URL grammar, whole: one frozen dataclass per scheme, with ``parse(url)``, ``.url``
and ``.location``. No client library is imported here.

======================  ========================================================================
scheme                  form (options in the query string)
======================  ========================================================================
``sqlite``              ``sqlite:///abs/path.db`` (``/:memory:`` for a private in-memory one);
                        ``timeout``
``etcd`` / ``etcds``    ``etcd://host:port[,host:port...]/prefix``; ``prefix``, ``user``,
                        ``ca_cert``, ``cert_key``, ``cert_cert``, ``timeout``; ``etcds`` is TLS
``cloudmap``            ``cloudmap://REGION``; ``endpoint_url``, ``profile``, ``concurrency``,
                        ``operation_timeout``
``servicedirectory``    ``servicedirectory://PROJECT/REGION``; ``endpoint`` (``host:port`` of an
                        emulator, no TLS), ``concurrency``, ``timeout``
======================  ========================================================================

Rules for every scheme: no credentials (``user:password@``) anywhere in the URL, an option that
is not known to the scheme is refused with the known ones listed, a numeric option is finite and
positive. A refused URL is never repeated in a message with its credentials (:func:`redact_url`).

``.location`` says where a URL's objects live, without connection details: two URLs with the same
location address the same objects (the etcd prefix, the SQLite file, the Cloud Map region, the
Service Directory project and region). Changing anything else is a connection-only change.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar
from urllib.parse import SplitResult, parse_qs, urlencode, urlsplit

from servregistry import errors
from servregistry.model import unstorable

__all__ = [
    "DEFAULT_ETCD_PREFIX",
    "SCHEMES",
    "CloudMapUrl",
    "EtcdUrl",
    "RegistryUrl",
    "ServiceDirectoryUrl",
    "SqliteUrl",
    "parse_prefix",
    "parse_url",
    "redact_url",
    "registry_location",
    "scheme_of",
]

_T = TypeVar("_T")

#: the etcd prefix of a URL that names none (the seed's default)
DEFAULT_ETCD_PREFIX = "/service-registry/"

#: where each scheme takes its credentials instead of the URL's ``user:password@``
CREDENTIALS_HINT = {
    "sqlite": "a SQLite registry file needs none",
    "etcd": "pass ?user=NAME and set the password in $SERVREGISTRY_ETCD_PASSWORD (or the stack "
    "secret servregistry:etcdPassword)",
    "cloudmap": "use the AWS credential chain (environment, ?profile=NAME, instance role)",
    "servicedirectory": "use Google Application Default Credentials",
}
CREDENTIALS_HINT["etcds"] = CREDENTIALS_HINT["etcd"]


def parse_prefix(prefix: str | None) -> str:
    """Normalise an etcd prefix as the seed does: ``None`` → the default, ``""``/``"/"`` → ``/``,
    otherwise strip slashes and wrap: ``///test///`` → ``/test/``."""
    if prefix is None:
        return DEFAULT_ETCD_PREFIX
    trimmed = prefix.strip("/")
    return f"/{trimmed}/" if trimmed else "/"


def redact_url(url: str) -> str:
    """``url`` for a message: any ``user:password@`` part is replaced by ``***@``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***@" + url.rpartition("@")[2] if "@" in url else url
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}{sep}{netloc}{slash}{tail}"


def split_url(
    url: str, allowed: Collection[str] | None = None
) -> tuple[SplitResult, dict[str, str]]:
    """A registry URL's parts and its query options (the last value of each); with ``allowed``,
    an option outside it is an InvalidInputError that lists the known ones.

    Credentials (``user:password@``, in the URL or in an option that is itself a URL) are
    refused for every scheme: a URL travels into messages, state and pickles. The message
    never repeats them.
    """
    reason = unstorable(url)
    if reason is not None:
        raise errors.InvalidInputError(field="registry", rule=f"the registry URL {reason}")
    parts = _urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if "@" in parts.netloc or any(_has_userinfo(v) for v in query.values()):
        hint = CREDENTIALS_HINT.get(parts.scheme.lower(), "use the backend's own credentials")
        raise errors.InvalidInputError(
            field="registry",
            rule=f"{parts.scheme} registry URLs must not carry credentials (user:password@); "
            f"{hint}",
        )
    unknown = set() if allowed is None else set(query) - set(allowed)
    if unknown:
        raise errors.InvalidInputError(
            field="registry",
            rule=f"unknown {parts.scheme} URL options: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(allowed or ())) or 'none'})",
        )
    return parts, query


def _urlsplit(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        if "," not in parts.netloc:  # an etcd member list is split and checked per member
            parts.port  # noqa: B018 - a malformed port raises here
    except ValueError as exc:
        raise errors.InvalidInputError(
            field="registry", rule=f"malformed registry URL ({exc})"
        ) from None
    return parts


def _has_userinfo(value: str) -> bool:
    return "://" in value and "@" in _urlsplit(value).netloc


def url_option(query: Mapping[str, str], key: str, default: _T, cast: Callable[[str], _T]) -> _T:
    """Option ``key`` of a URL query converted by ``cast``; a bad value names the option. A
    number (every numeric option is a timeout, a count or a size) must be finite and positive."""
    raw = query.get(key)
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise errors.InvalidInputError(
            field=f"registry.{key}", rule=f"{raw!r} is not a valid {cast.__name__}"
        ) from None
    if isinstance(value, int | float) and not (math.isfinite(value) and value > 0):
        raise errors.InvalidInputError(
            field=f"registry.{key}", rule=f"{raw!r}: must be a finite number > 0"
        )
    return value


def _query(**options: object) -> str:
    pairs = {k: str(v) for k, v in options.items() if v is not None}
    return f"?{urlencode(pairs)}" if pairs else ""


@dataclass(frozen=True)
class SqliteUrl:
    """The embedded registry: one SQLite file (made absolute by ``.url``, so every process
    agrees on it)."""

    path: str
    timeout: float | None = None

    scheme: ClassVar[str] = "sqlite"

    @classmethod
    def parse(cls, url: str) -> SqliteUrl:
        parts, query = split_url(url, {"timeout"})
        if parts.netloc:
            raise errors.InvalidInputError(
                field="registry",
                rule="a sqlite URL has no host or credentials; write sqlite:///absolute/path.db",
            )
        path = ":memory:" if parts.path == "/:memory:" else parts.path
        if not path.strip("/"):
            raise errors.InvalidInputError(
                field="registry", rule="the sqlite URL names no file (sqlite:///absolute/path.db)"
            )
        return cls(path, timeout=url_option(query, "timeout", None, float))

    @property
    def url(self) -> str:
        path = "/:memory:" if self.path == ":memory:" else os.path.abspath(self.path)
        return f"sqlite://{path}{_query(timeout=self.timeout)}"

    @property
    def location(self) -> str:
        return (
            "sqlite::memory:" if self.path == ":memory:" else f"sqlite:{os.path.abspath(self.path)}"
        )


@dataclass(frozen=True)
class EtcdUrl:
    """etcd in the CN-WAN key layout under ``prefix``; ``endpoints`` as ``host:port``.

    Which endpoints, the user, TLS files and the timeout are connection details; only the prefix
    is part of the objects' identity. ``tls`` (or a ``ca_cert``) makes it ``etcds://``.
    """

    endpoints: Sequence[str]
    prefix: str | None = None
    user: str | None = None
    ca_cert: str | None = None
    cert_key: str | None = None
    cert_cert: str | None = None
    tls: bool = False
    timeout: float | None = None

    scheme: ClassVar[str] = "etcd"
    OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {"timeout", "user", "ca_cert", "cert_key", "cert_cert", "prefix"}
    )

    def __post_init__(self) -> None:
        if isinstance(self.endpoints, str):
            raise errors.InvalidInputError(
                field="registry.endpoints", rule="a list of host:port strings, not one string"
            )
        object.__setattr__(self, "endpoints", tuple(self.endpoints))

    @classmethod
    def parse(cls, url: str) -> EtcdUrl:
        """A path of ``""`` or ``/`` keeps the default prefix; ``?prefix=/`` is the root."""
        parts, query = split_url(url, cls.OPTIONS)
        return cls(
            [e for e in parts.netloc.split(",") if e],
            query.get("prefix", parts.path.strip("/") or None),
            user=query.get("user"),
            ca_cert=query.get("ca_cert"),
            cert_key=query.get("cert_key"),
            cert_cert=query.get("cert_cert"),
            tls=parts.scheme.lower() == "etcds",
            timeout=url_option(query, "timeout", None, float),
        )

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

    @property
    def location(self) -> str:
        return f"etcd:{parse_prefix(self.prefix)}"


@dataclass(frozen=True)
class CloudMapUrl:
    """AWS Cloud Map in ``region``; ``endpoint_url`` for a local or private endpoint."""

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    concurrency: int | None = None
    operation_timeout: float | None = None

    scheme: ClassVar[str] = "cloudmap"

    @classmethod
    def parse(cls, url: str) -> CloudMapUrl:
        parts, query = split_url(
            url, {"endpoint_url", "profile", "concurrency", "operation_timeout"}
        )
        return cls(
            parts.netloc,
            endpoint_url=query.get("endpoint_url"),
            profile=query.get("profile"),
            concurrency=url_option(query, "concurrency", None, int),
            operation_timeout=url_option(query, "operation_timeout", None, float),
        )

    @property
    def url(self) -> str:
        query = _query(
            endpoint_url=self.endpoint_url,
            profile=self.profile,
            concurrency=self.concurrency,
            operation_timeout=self.operation_timeout,
        )
        return f"cloudmap://{self.region}{query}"

    @property
    def location(self) -> str:
        return f"cloudmap:{self.region}"


@dataclass(frozen=True)
class ServiceDirectoryUrl:
    """Google Service Directory in ``project``/``region``; ``endpoint`` (``host:port``) talks to
    an emulator without TLS or credentials."""

    project: str
    region: str
    endpoint: str | None = None
    concurrency: int | None = None
    timeout: float | None = None

    scheme: ClassVar[str] = "servicedirectory"

    @classmethod
    def parse(cls, url: str) -> ServiceDirectoryUrl:
        parts, query = split_url(url, {"endpoint", "concurrency", "timeout"})
        return cls(
            parts.netloc,
            parts.path.strip("/"),
            endpoint=query.get("endpoint"),
            concurrency=url_option(query, "concurrency", None, int),
            timeout=url_option(query, "timeout", None, float),
        )

    @property
    def url(self) -> str:
        query = _query(endpoint=self.endpoint, concurrency=self.concurrency, timeout=self.timeout)
        return f"servicedirectory://{self.project}/{self.region}{query}"

    @property
    def location(self) -> str:
        return f"servicedirectory:{self.project}/{self.region}"


RegistryUrl = SqliteUrl | EtcdUrl | CloudMapUrl | ServiceDirectoryUrl

#: scheme → its URL class
SCHEMES: dict[str, type[RegistryUrl]] = {
    "sqlite": SqliteUrl,
    "etcd": EtcdUrl,
    "etcds": EtcdUrl,
    "cloudmap": CloudMapUrl,
    "servicedirectory": ServiceDirectoryUrl,
}


def scheme_of(url: object) -> str:
    """The known scheme of ``url`` (lower case), or an InvalidInputError naming the known ones."""
    if not isinstance(url, str) or "://" not in url:
        shown = redact_url(url) if isinstance(url, str) else url
        raise errors.InvalidInputError(
            field="registry",
            rule=f"{shown!r} is not a registry URL; expected one of "
            + ", ".join(f"{s}://..." for s in SCHEMES),
        )
    scheme = url.partition("://")[0].lower()
    if scheme not in SCHEMES:
        raise errors.InvalidInputError(
            field="registry",
            rule=f"unknown registry scheme {redact_url(scheme)!r}; known: "
            + ", ".join(sorted(SCHEMES)),
        )
    return scheme


def parse_url(url: str) -> RegistryUrl:
    """The typed form of a registry URL; an InvalidInputError names what is wrong with it."""
    return SCHEMES[scheme_of(url)].parse(url)


def registry_location(url: str) -> str:
    """Where a registry URL's objects live, without connection details (see the module)."""
    return parse_url(url).location
