"""What Google Service Directory accepts, in one place: the backend checks it before writing,
and the emulator enforces it as the API does (INVALID_ARGUMENT). Each check returns ``None`` or
the rule that was broken, in words.

Sources: the Service Directory v1 API reference (resource ids, labels, annotations, address,
port).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

#: RFC 1035 label, 1-63 characters (the API's documented id pattern)
RESOURCE_ID = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
MAX_LABELS = 64
ANNOTATION_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
ANNOTATION_PREFIX = re.compile(
    r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*"
)
RESERVED_PREFIXES = ("google.com", "googleapis.com")
SERVICE_ANNOTATIONS_LIMIT = 2000
ENDPOINT_ANNOTATIONS_LIMIT = 512
MAX_ADDRESS = 45


def check_id(value: str) -> str | None:
    if RESOURCE_ID.fullmatch(value) is None:
        return (
            f"{value!r} is not a valid id: 1-63 characters, lowercase letters, digits and "
            "hyphens, starting with a letter and not ending with a hyphen (RFC 1035)"
        )
    return None


def check_labels(labels: Mapping[str, str]) -> str | None:
    if len(labels) > MAX_LABELS:
        return f"{len(labels)} labels: at most {MAX_LABELS}"
    for key, value in labels.items():
        if LABEL_KEY.fullmatch(key) is None:
            return (
                f"label key {key!r}: 1-63 lowercase letters, digits, '_' or '-', starting "
                "with a letter"
            )
        if LABEL_VALUE.fullmatch(value) is None:
            return f"label {key!r} value {value!r}: 0-63 lowercase letters, digits, '_' or '-'"
    return None


def check_annotations(annotations: Mapping[str, str], limit: int) -> str | None:
    total = sum(len(k) + len(v) for k, v in annotations.items())
    if total > limit:
        return f"annotations total {total} characters of keys and values: at most {limit}"
    for key in annotations:
        prefix, slash, name = key.rpartition("/")
        if slash and (len(prefix) > 253 or ANNOTATION_PREFIX.fullmatch(prefix) is None):
            return f"annotation key {key!r}: the prefix must be a DNS subdomain"
        reserved = prefix in RESERVED_PREFIXES or prefix.endswith(
            tuple(f".{p}" for p in RESERVED_PREFIXES)
        )
        if slash and reserved:
            return f"annotation key {key!r}: google.com/ and googleapis.com/ are reserved"
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
    if not address:
        return None
    if len(address) > MAX_ADDRESS:
        return f"address {address!r}: at most {MAX_ADDRESS} characters"
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return f"address {address!r} is not a valid IPv4 or IPv6 address"
    return None


def check_port(port: int) -> str | None:
    if not 0 <= port <= 65535:
        return f"port {port}: must be in 0..65535"
    return None
