"""The CN-WAN etcd layout: key paths under a prefix and YAML values (cnwan-semantics.md §4).

Keys: ``<prefix>namespaces/<ns>[/services/<serv>[/endpoints/<endp>]]``, default prefix
``/service-registry/``. Values are YAML documents with the seed's field names and order, so
existing CN-WAN readers and data interoperate.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import yaml

from servregistry import errors
from servregistry.model import Endpoint, Namespace, RegistryObject, Service

DEFAULT_PREFIX = "/service-registry/"


def parse_prefix(prefix: str | None) -> str:
    """Normalise a prefix as the seed does: ``None`` → default, ``""``/``"/"`` → ``/``,
    otherwise strip slashes and wrap: ``///test///`` → ``/test/``."""
    if prefix is None:
        return DEFAULT_PREFIX
    trimmed = prefix.strip("/")
    return f"/{trimmed}/" if trimmed else "/"


def ns_key(prefix: str, ns: str) -> str:
    return f"{prefix}namespaces/{ns}"


def serv_key(prefix: str, ns: str, serv: str) -> str:
    return f"{ns_key(prefix, ns)}/services/{serv}"


def endp_key(prefix: str, ns: str, serv: str, endp: str) -> str:
    return f"{serv_key(prefix, ns, serv)}/endpoints/{endp}"


def key_of(prefix: str, obj: RegistryObject) -> str:
    """The key an object is stored under."""
    if isinstance(obj, Endpoint):
        return endp_key(prefix, obj.ns_name, obj.serv_name, obj.name)
    if isinstance(obj, Service):
        return serv_key(prefix, obj.ns_name, obj.name)
    return ns_key(prefix, obj.name)


def child_name(key: str, base: str) -> str | None:
    """The child name if ``key`` is a direct child of ``base`` (which ends with ``/``)."""
    if not key.startswith(base):
        return None
    rest = key[len(base) :]
    return rest if rest and "/" not in rest else None


# libyaml's C parser and emitter when PyYAML has them (several times faster), else pure Python
_Loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):
    """Block style with 4-space indentation, as Go's yaml.v3 writes."""


def encode(obj: RegistryObject) -> bytes:
    """The seed's YAML: field order name, [serviceName,] [namespaceName,] metadata, [address,
    port]; metadata keys sorted; an empty map written ``{}``.

    When every string can be written plain (names, IPs, simple metadata: the usual case) the
    text is assembled directly, byte for byte what the YAML library writes; otherwise the
    YAML library writes it (quoting, escapes).
    """
    doc: dict[str, Any] = {"name": obj.name}
    if isinstance(obj, Endpoint):
        doc["serviceName"] = obj.serv_name
    if isinstance(obj, (Service, Endpoint)):
        doc["namespaceName"] = obj.ns_name
    doc["metadata"] = dict(sorted(obj.metadata.items()))
    if isinstance(obj, Endpoint):
        doc["address"] = obj.address
        doc["port"] = obj.port
    fast = _fast_encode(doc)
    if fast is not None:
        return fast
    text = yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, indent=4, allow_unicode=True, default_flow_style=False
    )
    return text.encode()


_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*")
_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=65536)
def _plain(text: str) -> bool:
    """Whether YAML writes ``text`` as a plain scalar that reads back as this string."""
    if _PLAIN.fullmatch(text) is None or text.endswith(":"):
        return False
    # the implicit types (bool, int, float, null, timestamp...) a plain scalar starting with
    # this character could resolve to; none matching means it reads back as a string
    resolvers = _RESOLVER.yaml_implicit_resolvers
    candidates = [*resolvers.get(text[0], ()), *resolvers.get(None, ())]
    return not any(regexp.match(text) for _tag, regexp in candidates)


def _fast_encode(doc: dict[str, Any]) -> bytes | None:
    lines: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            if not value:
                lines.append(f"{key}: {{}}")
                continue
            lines.append(f"{key}:")
            for k, v in value.items():
                if not (_plain(k) and _plain(v)):
                    return None
                lines.append(f"    {k}: {v}")
        elif isinstance(value, int) or _plain(value):
            lines.append(f"{key}: {value}")
        else:
            return None
    return ("\n".join(lines) + "\n").encode()


def _fast_decode(text: str) -> dict[str, Any] | None:
    """Parse what :func:`_fast_encode` writes (``key: plain`` lines, one nested map indented
    by four spaces); None for anything else, which the YAML library then parses."""
    doc: dict[str, Any] = {}
    nested: dict[str, str] | None = None
    opened: list[str] = []
    for line in text.splitlines():
        if line.startswith("    ") and nested is not None:
            key, sep, value = line[4:].partition(": ")
            if not sep or not _PLAIN.fullmatch(key) or not _PLAIN.fullmatch(value):
                return None
            nested[key] = value
            continue
        nested = None
        key, sep, value = line.partition(":")
        if not _PLAIN.fullmatch(key):
            return None
        if value == "":
            nested = doc[key] = {}
            opened.append(key)
        elif value == " {}":
            doc[key] = {}
        elif value.startswith(" ") and _PLAIN.fullmatch(value[1:]):
            doc[key] = value[1:]
        else:
            return None
    for key in opened:
        if not doc[key]:
            doc[key] = ""  # "key:" with nothing under it is an empty scalar
    return doc


def decode(kind: type[RegistryObject], raw: bytes) -> RegistryObject:
    """Parse a stored value; every scalar is read as a string (``1.10`` stays ``"1.10"``).

    Raises BackendError naming what is wrong with the document.
    """
    try:
        text = raw.decode()
        doc = _fast_decode(text)
        if doc is None:
            doc = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise errors.BackendError(f"stored value is not YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise errors.BackendError("stored value is not a YAML mapping")
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise errors.BackendError("stored metadata is not a mapping")
    name = str(doc.get("name", ""))
    try:
        if kind is Namespace:
            return Namespace(name, metadata)
        ns_name = str(doc.get("namespaceName", ""))
        if kind is Service:
            return Service(name, ns_name, metadata)
        return Endpoint(
            name,
            ns_name,
            str(doc.get("serviceName", "")),
            str(doc.get("address", "")),
            int(str(doc.get("port", "0"))),
            metadata,
        )
    except (errors.InvalidInputError, ValueError) as exc:
        raise errors.BackendError(f"stored value is invalid: {exc}") from exc
