"""What Google Service Directory accepts, in one place: the backend checks it before writing,
and the emulator enforces it as the API does (INVALID_ARGUMENT). Each check returns ``None`` or
the rule that was broken, in words.

Sources, all in the Service Directory v1 API reference (the ``google.cloud.servicedirectory.v1``
messages, as the ``google-cloud-service-directory`` package documents them):

- ``CreateNamespaceRequest.namespace_id`` (and ``service_id``, ``endpoint_id``): 1-63 characters
  matching ``[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?`` (RFC 1035);
- ``Namespace.labels``: at most 64 labels, keys and values at most 63 characters; their
  character set is Google Cloud's rule for resource labels (lowercase letters, international
  ones included, digits, ``_`` and ``-``; a key starts with a letter);
- ``Service.annotations`` / ``Endpoint.annotations``: the whole dictionary at most 2,000 / 512
  characters over all keys and values; a key is ``[prefix/]name``, the name 1-63 characters of
  ``[A-Za-z0-9._-]`` beginning and ending with a letter or digit, the prefix a DNS subdomain of
  at most 253 characters; the ``(*.)google.com/`` and ``(*.)googleapis.com/`` prefixes are
  reserved for the system, and the API *silently drops* what a client writes there
  (``v1beta1.Service.metadata``, the same storage as v1 annotations);
- ``Endpoint.address``: "an IPv4 or IPv6 address", at most 45 characters; the reference lists
  ``8.8.8``, ``8.8.8.8:53``, ``test:bad:address``, ``[::1]`` and ``[::1]:8080`` as refused;
- ``Endpoint.port``: refused outside ``[0, 65535]``;
- ``Endpoint.network``: ``projects/<project number>/locations/global/networks/*`` (a project id
  is refused), immutable.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping

#: RFC 1035 label, 1-63 characters (the API's documented id pattern)
RESOURCE_ID = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
MAX_LABELS = 64
MAX_LABEL = 63
ANNOTATION_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
ANNOTATION_PREFIX = re.compile(
    r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*"
)
MAX_PREFIX = 253
RESERVED_PREFIXES = ("google.com", "googleapis.com")
SERVICE_ANNOTATIONS_LIMIT = 2000
ENDPOINT_ANNOTATIONS_LIMIT = 512
MAX_ADDRESS = 45
NETWORK = re.compile(r"projects/[0-9]+/locations/global/networks/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")


def check_id(value: str) -> str | None:
    if RESOURCE_ID.fullmatch(value) is None:
        return (
            f"{value!r} is not a valid id: 1-63 characters, lowercase letters, digits and "
            "hyphens, starting with a letter and not ending with a hyphen (RFC 1035)"
        )
    return None


def _label_char(char: str) -> bool:
    """A lowercase letter (international ones included), a letter without case (as in CJK
    scripts), a numeric character, ``_`` or ``-``."""
    category = unicodedata.category(char)
    return char in "_-" or category in ("Ll", "Lo") or category.startswith("N")


def _label_start(char: str) -> bool:
    return unicodedata.category(char) in ("Ll", "Lo")


def check_labels(labels: Mapping[str, str]) -> str | None:
    if len(labels) > MAX_LABELS:
        return f"{len(labels)} labels: at most {MAX_LABELS}"
    for key, value in labels.items():
        if not 1 <= len(key) <= MAX_LABEL or not _label_start(key[0]):
            return (
                f"label key {key!r}: 1-63 characters, starting with a lowercase letter "
                "(international letters are allowed)"
            )
        if not all(_label_char(c) for c in key):
            return f"label key {key!r}: only lowercase letters, digits, '_' and '-'"
        if len(value) > MAX_LABEL or not all(_label_char(c) for c in value):
            return (
                f"label {key!r} value {value!r}: at most 63 lowercase letters, digits, '_' or '-'"
            )
    return None


def reserved(key: str) -> bool:
    """Whether annotation ``key`` is in a system keyspace, ``(*.)google.com/`` or
    ``(*.)googleapis.com/``, where the API silently drops what a client writes."""
    prefix, slash, _name = key.rpartition("/")
    return bool(slash) and (
        prefix in RESERVED_PREFIXES or prefix.endswith(tuple(f".{p}" for p in RESERVED_PREFIXES))
    )


def check_annotations(
    annotations: Mapping[str, str], limit: int, *, refuse_reserved: bool = True
) -> str | None:
    """The annotation rules; a key in a reserved keyspace is refused too, unless
    ``refuse_reserved`` is false (the API itself takes it, and drops it)."""
    total = sum(len(k) + len(v) for k, v in annotations.items())
    if total > limit:
        return f"annotations total {total} characters of keys and values: at most {limit}"
    for key in annotations:
        prefix, slash, name = key.rpartition("/")
        if slash and (len(prefix) > MAX_PREFIX or ANNOTATION_PREFIX.fullmatch(prefix) is None):
            return (
                f"annotation key {key!r}: the prefix must be a DNS subdomain of at most "
                f"{MAX_PREFIX} characters"
            )
        if refuse_reserved and reserved(key):
            return (
                f"annotation key {key!r}: google.com/ and googleapis.com/ are reserved for "
                "Service Directory, which silently drops what a client writes there"
            )
        if ANNOTATION_NAME.fullmatch(name) is None:
            return (
                f"annotation key {key!r}: the name must be 1-63 characters of letters, digits, "
                "'-', '_' or '.', beginning and ending with a letter or digit"
            )
        problem = check_text(annotations[key])
        if problem:
            return f"annotation {key!r} value: {problem}"
    return None


def check_text(value: str) -> str | None:
    """Free text (an annotation value) must be encodable as UTF-8, as every string the API
    carries is: a lone surrogate such as U+DC80 (what Python makes of undecodable bytes) is not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        return (
            f"{value!r} is not valid Unicode text: it holds a lone surrogate "
            f"(U+{ord(bad):04X} at position {exc.start}), which cannot be encoded as UTF-8"
        )
    return None


def check_address(address: str) -> str | None:
    """An empty address is allowed (the field is optional); otherwise an IPv4 or IPv6 address
    of at most 45 characters, without a zone: ``fe80::1%eth0`` names an interface of one host,
    which means nothing to the hosts that look the endpoint up, and is not an address the API
    takes (Python's ``ipaddress`` would accept it)."""
    if not address:
        return None
    if "%" in address:
        return (
            f"address {address!r} is a zone-scoped IPv6 address: Service Directory takes an "
            "IPv4 or IPv6 address without a zone (%interface); register a routable address"
        )
    if len(address) > MAX_ADDRESS:
        return f"address {address!r}: at most {MAX_ADDRESS} characters"
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return (
            f"address {address!r} is not a valid IPv4 or IPv6 address (no port, brackets or "
            "host name)"
        )
    return None


def check_port(port: int) -> str | None:
    if not 0 <= port <= 65535:
        return f"port {port}: must be in 0..65535"
    return None


def check_network(network: str) -> str | None:
    """Empty, or ``projects/<project number>/locations/global/networks/<name>``."""
    if network and NETWORK.fullmatch(network) is None:
        return (
            f"network {network!r}: must be projects/<project number>/locations/global/"
            "networks/<name> (a project number, not a project id)"
        )
    return None
