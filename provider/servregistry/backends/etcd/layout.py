"""The CN-WAN etcd layout: key paths under a prefix and YAML values (docs/etcd-wire-format.md).

Keys: ``<prefix>namespaces/<ns>[/services/<serv>[/endpoints/<endp>]]``, default prefix
``/service-registry/``. Values are YAML documents with the seed's field names and order, so
existing CN-WAN readers and data interoperate.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from servregistry import errors
from servregistry.model import Endpoint, Namespace, RegistryObject, Service, shared_metadata


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


def _plain(text: str) -> bool:
    """Whether YAML writes ``text`` as a plain scalar that reads back as this string."""
    if _PLAIN.fullmatch(text) is None or text.endswith(":"):
        return False
    # the implicit types (bool, int, float, null, timestamp...) a plain scalar starting with
    # this character could resolve to; none matching means it reads back as a string
    resolvers = _RESOLVER.yaml_implicit_resolvers
    candidates = [*resolvers.get(text[0], ()), *resolvers.get(None, ())]
    return not any(regexp.match(text) for _tag, regexp in candidates)


#: texts longer than this are not kept in the caches below (a metadata value may be 1 MiB)
_CACHED_CHARS = 1024


def _scalar(text: str) -> str | None:
    """``text`` as YAML writes it when that is simple: plain, or single-quoted when plain it
    would read back as another type (``'100'``, ``'yes'``); None otherwise. Kept for short
    texts: a set of endpoints repeats its names' parts and its metadata."""
    return _scalar_of(text) if len(text) > _CACHED_CHARS else _cached_scalar(text)


def _scalar_of(text: str) -> str | None:
    if _plain(text):
        return text
    if _PLAIN.fullmatch(text) is not None and not text.endswith(":"):
        return f"'{text}'"
    return None


_cached_scalar = functools.lru_cache(maxsize=65536)(_scalar_of)


def _unscalar(text: str) -> str | None:
    """The string a scalar written by :func:`_scalar` reads back as; None for any other."""
    if _PLAIN.fullmatch(text) is not None:
        return text
    if len(text) > 2 and text[0] == text[-1] == "'" and _PLAIN.fullmatch(text[1:-1]):
        return text[1:-1]
    return None


def _fast_encode(doc: dict[str, Any]) -> bytes | None:
    lines: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            if not value:
                lines.append(f"{key}: {{}}")
                continue
            lines.append(f"{key}:")
            for k, v in value.items():
                k_text, v_text = _scalar(k), _scalar(v)
                if k_text is None or v_text is None:
                    return None
                lines.append(f"    {k_text}: {v_text}")
        elif isinstance(value, int):
            lines.append(f"{key}: {value}")
        elif (text := _scalar(value)) is not None:
            lines.append(f"{key}: {text}")
        else:
            return None
    return ("\n".join(lines) + "\n").encode()


_S = r"(?:[A-Za-z0-9_][A-Za-z0-9_.:/-]*|'[A-Za-z0-9_][A-Za-z0-9_.:/-]*')"
_P = r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*"
#: an endpoint exactly as :func:`_fast_encode` writes it with plain scalars only (the usual
#: stored value; a quoted scalar is left to the line parser)
_ENDPOINT_TEXT = re.compile(
    rf"name: ({_P})\nserviceName: ({_P})\nnamespaceName: ({_P})\nmetadata:( \{{\}}|"
    rf"(?:\n    {_P}: {_P})+)\naddress: ({_P})\nport: ([0-9]+)\n"
)
_PAIR = re.compile(rf"\n    ({_P}): ({_P})")


def _metadata_block(block: str) -> dict[str, str]:
    """The metadata of an endpoint value matched by ``_ENDPOINT_TEXT`` (``block``: `` {}`` or
    its ``\n    key: value`` lines), read-only. Every endpoint of a service repeats a few
    blocks (the owner pair, a zone), so each distinct block is parsed once and its map shared."""
    if len(block) > _CACHED_CHARS:
        return _parse_block(block)
    return _shared_block(block)


def _parse_block(block: str) -> dict[str, str]:
    pairs = {} if block == " {}" else dict(_PAIR.findall(block))
    return shared_metadata({sys.intern(k): sys.intern(v) for k, v in pairs.items()})


_shared_block = functools.lru_cache(maxsize=4096)(_parse_block)


@functools.lru_cache(maxsize=65536)
def _port(text: str) -> int | None:
    """A port as the one-pattern parser matched it (digits), or None out of 0..65535; one
    ``int`` per distinct port."""
    return int(text) if len(text) <= 5 and int(text) <= 65535 else None


def _endpoint_decode(text: str) -> dict[str, Any] | None:
    """One match for an endpoint written as :func:`_fast_encode` writes it with plain scalars
    (most values); the same document :func:`_fast_decode` parses line by line, or None."""
    found = _ENDPOINT_TEXT.fullmatch(text)
    if found is None:
        return None
    name, serv, ns, metadata, address, port = found.groups()
    # the texts every endpoint of a service repeats (its parents' names, the owner pair, ...)
    # are kept once, not once per endpoint
    return {
        "name": name,
        "serviceName": sys.intern(serv),
        "namespaceName": sys.intern(ns),
        "metadata": _metadata_block(metadata),
        "address": address,
        "port": port,
    }


def _trusted_endpoint(
    text: str, names: dict[str, str] | None, key_name: str | None = None
) -> Endpoint | None:
    """The endpoint a value matched by ``_ENDPOINT_TEXT`` holds, built without running the
    model's rules again (:meth:`Endpoint.trusted`), or None when the general path must read
    it. The match itself proves the rules ``Endpoint.stored`` applies: every scalar is plain
    ASCII without NUL (storable) and not empty, the metadata is a map of such strings; the
    port is checked here (0..65535), and the names against the key's (``names``, and
    ``key_name`` as its name) as :func:`_fields` does; any difference goes to the general
    path, which says why."""
    found = _ENDPOINT_TEXT.fullmatch(text)
    if found is None:
        return None
    name, serv, ns, metadata, address, port_text = found.groups()
    port = _port(port_text)
    if port is None:
        return None
    if key_name is not None:
        if key_name != name:
            return None
        name = key_name
    if names is not None:
        # the key's strings are the ones kept (one copy per service, not per endpoint)
        expected = names.get("name", name), names.get("serv_name", serv), names.get("ns_name", ns)
        if expected != (name, serv, ns):
            return None
        name, serv, ns = expected
    else:
        serv, ns = sys.intern(serv), sys.intern(ns)
    return Endpoint.trusted(name, ns, serv, address, port, _metadata_block(metadata))


class PlainEndpointText:
    """The keys and stored values of endpoints under one service, the values written as
    :func:`encode` writes them when every scalar is plain, to be compared byte for byte with
    what is stored.

    :meth:`of` gives a value only for fields whose text :func:`decode` reads back as exactly
    those fields (plain ASCII scalars, matched by its one-pattern reader): a stored value
    equal to it therefore decodes to that endpoint, without being decoded. Anything else is
    left out, and its stored value is decoded as usual. Each distinct metadata map is written
    once (an endpoint set repeats a few).
    """

    def __init__(self, prefix: str, ns_name: str, serv_name: str) -> None:
        self._base = endp_key(prefix, ns_name, serv_name, "")
        plain = _PLAIN.fullmatch(ns_name) and _PLAIN.fullmatch(serv_name)
        self._parents = f"serviceName: {serv_name}\nnamespaceName: {ns_name}\n" if plain else None

    def names_of(self, keys: Sequence[bytes]) -> list[str]:
        """The endpoint names of keys :meth:`of` gave (decoded at once: keys hold no NUL)."""
        if not keys:
            return []
        base = self._base
        return b"\0".join(keys).decode()[len(base) :].split("\0" + base)

    def of(self, wanted: Mapping[str, tuple[Endpoint, Any]]) -> dict[bytes, bytes]:
        """``key → stored value`` for each ``name → (endpoint, metadata as written)`` that is
        written plain (the endpoint's address and port, with that metadata).

        The usual set is plain throughout (names, addresses, a few metadata maps), which one
        pattern over all names and one over all addresses tell; otherwise the endpoints that
        are not plain are left out first. The keys and values are then built as two texts,
        each encoded once and cut at NUL (which no plain scalar holds)."""
        base = self._base
        if self._parents is None or not wanted or "\0" in base:
            return {}
        blocks: dict[int, str | None] = {}  # id of a metadata map (alive in ``wanted``) → block
        for _endp, metadata in wanted.values():
            if id(metadata) not in blocks:
                blocks[id(metadata)] = _plain_block(metadata)
        names = "\n".join(wanted)
        addresses = "\n".join([endp.address for endp, _metadata in wanted.values()])
        lines = len(wanted) - 1  # a name may itself hold a newline: then it is not plain
        if (
            None in blocks.values()
            or names.count("\n") != lines
            or addresses.count("\n") != lines
            or _PLAIN_LINES.fullmatch(names) is None
            or _PLAIN_LINES.fullmatch(addresses) is None
        ):
            plain = _PLAIN.fullmatch
            wanted = {
                name: (endp, metadata)
                for name, (endp, metadata) in wanted.items()
                if blocks[id(metadata)] is not None and plain(name) and plain(endp.address)
            }
            if not wanted:
                return {}
            names = "\n".join(wanted)
        head = f"\n{self._parents}metadata:"
        values = "\0".join(
            [
                f"name: {name}{head}{blocks[id(metadata)]}\naddress: {endp.address}\n"
                f"port: {endp.port}\n"
                for name, (endp, metadata) in wanted.items()
            ]
        )
        keys = (base + names.replace("\n", "\0" + base)).encode().split(b"\0")
        return dict(zip(keys, values.encode().split(b"\0"), strict=True))


#: lines that are each a plain scalar
_PLAIN_LINES = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*(?:\n[A-Za-z0-9_][A-Za-z0-9_.:/-]*)*")


def _plain_block(metadata: Any) -> str | None:
    """The metadata lines :func:`encode` writes for ``metadata`` when every key and value is a
    plain scalar (`` {}`` when empty), else None."""
    if not metadata:
        return " {}"
    if not all(_PLAIN.fullmatch(k) and _PLAIN.fullmatch(v) for k, v in metadata.items()):
        return None
    return "".join(f"\n    {k}: {v}" for k, v in sorted(metadata.items()))


def _fast_decode(text: str) -> dict[str, Any] | None:
    """Parse what :func:`_fast_encode` writes (``key: scalar`` lines, one nested map indented
    by four spaces); None for anything else, which the YAML library then parses."""
    if text.startswith("name: ") and "\nserviceName: " in text:
        endpoint = _endpoint_decode(text)
        if endpoint is not None:
            return endpoint
    return _line_decode(text)


def _line_decode(text: str) -> dict[str, Any] | None:
    """:func:`_fast_decode` line by line (any kind, quoted scalars too)."""
    doc: dict[str, Any] = {}
    nested: dict[str, str] | None = None
    opened: list[str] = []
    for line in text.splitlines():
        if line.startswith("    ") and nested is not None:
            raw_key, sep, raw_value = line[4:].partition(": ")
            nested_key, nested_value = _unscalar(raw_key), _unscalar(raw_value)
            if not sep or nested_key is None or nested_value is None:
                return None
            nested[nested_key] = nested_value
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
        elif value.startswith(" ") and (scalar := _unscalar(value[1:])) is not None:
            doc[key] = scalar
        else:
            return None
    for key in opened:
        if not doc[key]:
            doc[key] = ""  # "key:" with nothing under it is an empty scalar
    return doc


#: the fields a stored value of each kind may hold (the seed's names)
_FIELDS: dict[type[RegistryObject], tuple[str, ...]] = {
    Namespace: ("name", "metadata"),
    Service: ("name", "namespaceName", "metadata"),
    Endpoint: ("name", "serviceName", "namespaceName", "metadata", "address", "port"),
}
#: stored field name → model field name, for the names a key also carries
_NAME_FIELDS = {"name": "name", "namespaceName": "ns_name", "serviceName": "serv_name"}
_PORT = re.compile(r"[0-9]{1,5}")


class _Unreadable(Exception):
    """Why a stored value does not fit the model."""


def names_of(prefix: str, key: str) -> dict[str, str] | None:
    """The names an object's key carries (``name``, ``ns_name``, ``serv_name`` as the kind
    has them), or None if ``key`` is not an object key of the layout under ``prefix``."""
    parts = key.removeprefix(prefix).split("/") if key.startswith(prefix) else []
    if len(parts) == 2 and parts[0] == "namespaces" and parts[1]:
        return {"name": parts[1]}
    if len(parts) == 4 and parts[0::2] == ["namespaces", "services"] and all(parts[1::2]):
        return {"name": parts[3], "ns_name": parts[1]}
    if (
        len(parts) == 6
        and parts[0::2] == ["namespaces", "services", "endpoints"]
        and all(parts[1::2])
    ):
        return {"name": parts[5], "ns_name": parts[1], "serv_name": parts[3]}
    return None


def decode(
    kind: type[RegistryObject],
    raw: bytes,
    names: dict[str, str] | None = None,
    *,
    name: str | None = None,
) -> RegistryObject:
    """Read a stored value as a ``kind``, as it is stored (``kind.stored``: an empty or
    hostname address is kept). Every scalar is read as a string (``1.10`` stays ``"1.10"``).

    ``names`` are the names the value's key carries (with ``name`` as its ``"name"`` when
    given); a value naming itself otherwise does not fit. A value that does not fit the model
    (not YAML, not a mapping, an unknown field, nested or non-string metadata, a port that is
    not a number in range, ...) gives a placeholder ``kind.stored(names, unreadable=reason)``:
    foreign by construction, never changed.
    """
    if kind is Endpoint and raw.startswith(b"name: "):
        try:
            trusted = _trusted_endpoint(raw.decode("ascii"), names, name)
        except UnicodeDecodeError:
            trusted = None  # not ASCII: not a plain value either
        if trusted is not None:
            return trusted
    if name is not None:
        names = {**(names or {}), "name": name}
    try:
        doc = _parse(raw)
        data = _fields(kind, doc, names)
        obj: RegistryObject = kind.stored(data)
        return obj
    except _Unreadable as exc:
        reason = str(exc)
    except errors.InvalidInputError as exc:
        reason = f"stored value is invalid: {exc}"
    fallback = names
    if fallback is None:  # names from the value itself, where it has them as strings
        doc = _safe_parse(raw)
        fallback = {
            model: str(doc.get(stored) or "?")
            for stored, model in _NAME_FIELDS.items()
            if model in kind.model_fields and isinstance(doc.get(stored, ""), str)
        }
    placeholder: RegistryObject = kind.stored(fallback, unreadable=reason)
    return placeholder


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        raise _Unreadable("stored value is empty")
    try:
        text = raw.decode()
        doc = _fast_decode(text)
        return doc if doc is not None else yaml.load(text, Loader=_Loader)
    except UnicodeDecodeError:
        raise _Unreadable("stored value is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _Unreadable(f"stored value is not YAML: {first}") from None


def _safe_parse(raw: bytes) -> dict[str, Any]:
    try:
        doc = _parse(raw)
    except _Unreadable:
        return {}
    return doc if isinstance(doc, dict) else {}


def _fields(kind: type[RegistryObject], doc: Any, names: dict[str, str] | None) -> dict[str, Any]:
    """The model fields of a parsed stored value; _Unreadable if it does not fit."""
    if not isinstance(doc, dict):
        raise _Unreadable(f"stored value is not a YAML mapping (it is {_kind_of(doc)})")
    allowed = _FIELDS[kind]
    unknown = [str(k) for k in doc if k not in allowed]
    if unknown:
        raise _Unreadable(
            f"stored value has fields a {kind.__name__.lower()} does not have: "
            + ", ".join(sorted(unknown))
        )
    data: dict[str, Any] = {}
    for stored, model in _NAME_FIELDS.items():
        if stored not in allowed:
            continue
        value = doc.get(stored)
        if value is not None and not isinstance(value, str):
            raise _Unreadable(f"stored {stored} is {_kind_of(value)}, not a string")
        expected = names.get(model) if names is not None else None
        if value is None:
            if expected is None:
                raise _Unreadable(f"stored value has no {stored}")
            value = expected
        elif expected is not None and value != expected:
            raise _Unreadable(f"stored {stored} {value!r} does not match its key ({expected!r})")
        data[model] = value
    metadata = doc.get("metadata")
    if metadata in (None, "", "~", "null"):
        metadata = {}
    if not isinstance(metadata, dict):
        raise _Unreadable(f"stored metadata is {_kind_of(metadata)}, not a mapping")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise _Unreadable(
                f"stored metadata {key!r} is {_kind_of(value)}, not a string "
                "(nested metadata does not fit the model)"
            )
    data["metadata"] = metadata
    if kind is Endpoint:
        address = doc.get("address", "")
        if not isinstance(address, str):
            raise _Unreadable(f"stored address is {_kind_of(address)}, not a string")
        port = doc.get("port", "0")
        if not isinstance(port, str) or _PORT.fullmatch(port) is None:
            raise _Unreadable(f"stored port {port!r} is not a number in 0..65535")
        data["address"], data["port"] = address, int(port)
    return data


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return f"the scalar {value!r}"
