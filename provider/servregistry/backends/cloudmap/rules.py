"""What AWS Cloud Map accepts, checked before anything is written.

Limits from the Cloud Map API reference (``CreateHttpNamespace``, ``CreateService``,
``RegisterInstance``, ``TagResource``) and the Terraform provider's validation. Each error
names the field and the limit. Every pattern is made of ASCII or word characters, so text that
is not valid Unicode (a lone surrogate) is refused here too, before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from servregistry import errors
from servregistry.model import Endpoint, Namespace, RegistryObject

NAMESPACE_NAME = re.compile(r"[0-9A-Za-z._-]{1,1024}")
SERVICE_NAME = re.compile(
    r"((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\.$)"
)
INSTANCE_ID = re.compile(r"[0-9A-Za-z_/:.@-]{1,64}")
ATTRIBUTE_KEY = re.compile(r"[!-~]{1,255}")
ATTRIBUTE_VALUE = re.compile(r"([!-~][ -~]{0,1022}[!-~]|[!-~]?)")
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_CHARS = 5000
MAX_TAGS = 50
TAG_KEY = re.compile(r"[\w\s+=.:/@-]{1,128}", re.UNICODE)
TAG_VALUE = re.compile(r"[\w\s+=.:/@-]{0,256}", re.UNICODE)
#: attribute keys Cloud Map gives a meaning of its own
RESERVED_ATTRIBUTES = frozenset(
    {
        "AWS_INSTANCE_IPV4",
        "AWS_INSTANCE_IPV6",
        "AWS_INSTANCE_PORT",
        "AWS_INSTANCE_CNAME",
        "AWS_ALIAS_DNS_NAME",
        "AWS_INIT_HEALTH_STATUS",
        "AWS_EC2_INSTANCE_ID",
        "AWS_INSTANCE_IPV4_ADDRESS",
    }
)


def validate(obj: RegistryObject) -> None:
    """Raise InvalidInputError naming the field and the limit Cloud Map would refuse."""
    kind = type(obj).__name__.lower()
    if isinstance(obj, Namespace):
        _match(NAMESPACE_NAME, obj.name, f"{kind}.name", "1-1024 characters of [0-9A-Za-z._-]")
        _check_tags(obj.metadata, kind)
    elif isinstance(obj, Endpoint):
        _match(INSTANCE_ID, obj.name, f"{kind}.name", "1-64 characters of [0-9A-Za-z_/:.@-]")
        _check_attributes(obj.metadata, kind)
    else:
        _match(
            SERVICE_NAME,
            obj.name,
            f"{kind}.name",
            "a DNS-style label sequence (letters, digits, '-', '_'; 63 per label, 127 in all)",
        )
        _check_tags(obj.metadata, kind)


def _match(pattern: re.Pattern[str], value: str, field: str, rule: str) -> None:
    if pattern.fullmatch(value) is None:
        raise errors.InvalidInputError(field=field, rule=f"{value!r}: Cloud Map needs {rule}")


def _check_tags(metadata: Mapping[str, str], kind: str) -> None:
    if len(metadata) > MAX_TAGS:
        raise errors.InvalidInputError(
            field=f"{kind}.metadata",
            rule=f"{len(metadata)} pairs: Cloud Map allows at most {MAX_TAGS} tags",
        )
    for key, value in metadata.items():
        field = f"{kind}.metadata[{key!r}]"
        if key.lower().startswith("aws:"):
            raise errors.InvalidInputError(field=field, rule="tag keys starting aws: are reserved")
        _match(TAG_KEY, key, field, "a tag key of 1-128 letters, digits, spaces or _.:/=+-@")
        _match(TAG_VALUE, value, field, "a tag value of 0-256 letters, digits, spaces or _.:/=+-@")


def _check_attributes(metadata: Mapping[str, str], kind: str) -> None:
    if len(metadata) > MAX_ATTRIBUTES:
        raise errors.InvalidInputError(
            field=f"{kind}.metadata",
            rule=f"{len(metadata)} pairs: Cloud Map allows at most {MAX_ATTRIBUTES} custom "
            "attributes",
        )
    total = sum(len(k) + len(v) for k, v in metadata.items())
    if total > MAX_ATTRIBUTE_CHARS:
        raise errors.InvalidInputError(
            field=f"{kind}.metadata",
            rule=f"{total} characters: Cloud Map allows at most {MAX_ATTRIBUTE_CHARS} characters "
            "of attribute keys and values in all",
        )
    for key, value in metadata.items():
        field = f"{kind}.metadata[{key!r}]"
        if key in RESERVED_ATTRIBUTES:
            raise errors.InvalidInputError(field=field, rule=f"{key} is reserved by Cloud Map")
        _match(ATTRIBUTE_KEY, key, field, "an attribute key of 1-255 printable ASCII characters")
        _match(
            ATTRIBUTE_VALUE,
            value,
            field,
            "an attribute value of 0-1024 printable ASCII characters, no leading/trailing space",
        )
