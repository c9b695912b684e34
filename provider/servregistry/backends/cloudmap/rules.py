"""What AWS Cloud Map accepts, checked before anything is written.

Each rule is the API's own, from the Cloud Map API reference (the ``servicediscovery`` service
model botocore ships: ``CreateHttpNamespace``, ``CreateService``, ``RegisterInstance``,
``TagResource``, ``TooManyTagsException``, the ``List*`` calls) and the Cloud Map quotas page.
Each error names the field and the limit. Every pattern is made of ASCII or word characters, so
text that is not valid Unicode (a lone surrogate) is refused here too, before anything is sent.

=============================  =========================================================
rule                           source
=============================  =========================================================
namespace name                 ``CreateHttpNamespace.Name``: ``^(?!arn:)[!-~]{1,1024}$``
service name                   ``CreateService.Name`` (DNS-style labels, 127 in all)
instance id                    ``RegisterInstance.InstanceId``: ``^[0-9a-zA-Z_/:.@-]+$``, 64
attribute key / value          ``RegisterInstance.Attributes``: 255 / 1,024, their patterns
custom attributes              30 per instance (quota "Custom attributes per instance")
attribute total                5,000 characters, keys and values of *all* attributes,
                               ``AWS_INSTANCE_IPV4``/``IPV6``/``PORT`` included
``AWS_*`` keys                 Cloud Map's own; the backend writes the address and port
instances per service          1,000 (quota "Instances per service", not adjustable)
tags per resource              50 (``TooManyTagsException``); key 1-128, value 0-256
page size                      ``MaxResults`` 1-100 on ``ListNamespaces``/``Services``/
                               ``Instances``
filter value                   ``NamespaceFilter.Values``: each 1-255 characters
=============================  =========================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from servregistry import errors
from servregistry.model import Endpoint, Namespace, RegistryObject

__all__ = [
    "IPV4",
    "IPV6",
    "MAX_FILTER_VALUE",
    "MAX_INSTANCES",
    "MAX_PAGE_SIZE",
    "MAX_TAGS",
    "PORT",
    "attributes",
    "check_instance_count",
    "check_page_size",
    "validate",
]

#: the attributes that carry an instance's address and port
IPV4, IPV6, PORT = "AWS_INSTANCE_IPV4", "AWS_INSTANCE_IPV6", "AWS_INSTANCE_PORT"
NAMESPACE_NAME = re.compile(r"(?!arn:)[!-~]{1,1024}")
SERVICE_NAME = re.compile(
    r"((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\.$)"
)
INSTANCE_ID = re.compile(r"[0-9A-Za-z_/:.@-]{1,64}")
ATTRIBUTE_KEY = re.compile(r"[!-~]{1,255}")
#: the API's value pattern: printable ASCII, spaces and tabs, not starting with a space or tab
ATTRIBUTE_VALUE = re.compile(r"([!-~][ \t!-~]*)?[!-~]?")
MAX_ATTRIBUTE_VALUE = 1024
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_CHARS = 5000
#: attribute keys starting so are Cloud Map's own (AWS_INSTANCE_IPV4, AWS_INIT_HEALTH_STATUS, ...)
AWS_PREFIX = "AWS_"
MAX_INSTANCES = 1000
MAX_TAGS = 50
MAX_PAGE_SIZE = 100
#: NamespaceFilter/ServiceFilter, Values: each value at most 255 characters (a namespace name
#: may have 1,024, so a longer one is found by listing, not by a NAME filter)
MAX_FILTER_VALUE = 255
TAG_KEY = re.compile(r"[\w\s+=.:/@-]{1,128}", re.UNICODE)
TAG_VALUE = re.compile(r"[\w\s+=.:/@-]{0,256}", re.UNICODE)


def validate(obj: RegistryObject) -> None:
    """Raise InvalidInputError naming the field and the limit Cloud Map would refuse."""
    kind = type(obj).__name__.lower()
    if isinstance(obj, Namespace):
        _match(
            NAMESPACE_NAME,
            obj.name,
            f"{kind}.name",
            "1-1024 printable ASCII characters (no spaces), not starting with 'arn:'",
        )
        _check_tags(obj.metadata, kind)
    elif isinstance(obj, Endpoint):
        _match(INSTANCE_ID, obj.name, f"{kind}.name", "1-64 characters of [0-9A-Za-z_/:.@-]")
        _check_address(obj, kind)
        _check_attributes(obj, kind)
    else:
        _match(
            SERVICE_NAME,
            obj.name,
            f"{kind}.name",
            "a DNS-style label sequence (letters, digits, '-', '_'; 63 per label, 127 in all)",
        )
        _check_tags(obj.metadata, kind)


def attributes(endp: Endpoint) -> dict[str, str]:
    """The attributes an endpoint is registered with: its metadata, its address under
    ``AWS_INSTANCE_IPV4`` or ``AWS_INSTANCE_IPV6`` and its port under ``AWS_INSTANCE_PORT``."""
    found = dict(endp.metadata)
    found[IPV4 if endp.ip_version == 4 else IPV6] = endp.address
    found[PORT] = str(endp.port)
    return found


def check_instance_count(where: str, count: int) -> None:
    """Raise InvalidInputError when a service would hold more instances than Cloud Map allows;
    ``count`` is every instance after the change, other owners' included."""
    if count > MAX_INSTANCES:
        raise errors.InvalidInputError(
            field="endpoints",
            rule=f"{where} would hold {count} instances (those of other owners included): Cloud "
            f"Map allows at most {MAX_INSTANCES:,} instances per service (quota 'Instances per "
            "service', not adjustable); nothing was written",
        )


def check_page_size(page_size: int | None) -> None:
    """Raise InvalidInputError unless ``page_size`` is None (the API's default) or 1-100."""
    if page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE:
        raise errors.InvalidInputError(
            field="registry.page_size",
            rule=f"{page_size}: Cloud Map list calls take MaxResults 1-{MAX_PAGE_SIZE}",
        )


def _match(pattern: re.Pattern[str], value: str, field: str, rule: str) -> None:
    if pattern.fullmatch(value) is None:
        raise errors.InvalidInputError(field=field, rule=f"{value!r}: Cloud Map needs {rule}")


def _check_tags(metadata: Mapping[str, str], kind: str) -> None:
    if len(metadata) > MAX_TAGS:
        raise errors.InvalidInputError(
            field=f"{kind}.metadata",
            rule=f"{len(metadata)} pairs: Cloud Map allows at most {MAX_TAGS} tags per resource",
        )
    for key, value in metadata.items():
        field = f"{kind}.metadata[{key!r}]"
        if key.lower().startswith("aws:"):
            raise errors.InvalidInputError(field=field, rule="tag keys starting aws: are reserved")
        _match(TAG_KEY, key, field, "a tag key of 1-128 letters, digits, spaces or _.:/=+-@")
        _match(TAG_VALUE, value, field, "a tag value of 0-256 letters, digits, spaces or _.:/=+-@")


def _check_address(endp: Endpoint, kind: str) -> None:
    if "%" in endp.address:
        raise errors.InvalidInputError(
            field=f"{kind}.address",
            rule=f"{endp.address!r}: Cloud Map holds a plain IP address; a zone-scoped IPv6 "
            "address (with %zone) cannot be registered, give the address without its zone",
        )


def _check_attributes(endp: Endpoint, kind: str) -> None:
    metadata = endp.metadata
    for key in metadata:
        if key.startswith(AWS_PREFIX):
            raise errors.InvalidInputError(
                field=f"{kind}.metadata[{key!r}]",
                rule=f"attribute keys starting {AWS_PREFIX} are Cloud Map's own (the backend "
                f"writes the address and port as {IPV4}/{IPV6} and {PORT}); rename the key",
            )
    if len(metadata) > MAX_ATTRIBUTES:
        raise errors.InvalidInputError(
            field=f"{kind}.metadata",
            rule=f"{len(metadata)} pairs: Cloud Map allows at most {MAX_ATTRIBUTES} custom "
            "attributes",
        )
    total = sum(len(k) + len(v) for k, v in attributes(endp).items())
    if total > MAX_ATTRIBUTE_CHARS:
        raise errors.InvalidInputError(
            field=f"{kind}.metadata",
            rule=f"{total} characters: Cloud Map allows at most {MAX_ATTRIBUTE_CHARS} characters "
            f"of attribute keys and values in all, counting {IPV4}/{IPV6} and {PORT} with the "
            "address and port",
        )
    for key, value in metadata.items():
        field = f"{kind}.metadata[{key!r}]"
        _match(ATTRIBUTE_KEY, key, field, "an attribute key of 1-255 printable ASCII characters")
        if len(value) > MAX_ATTRIBUTE_VALUE or ATTRIBUTE_VALUE.fullmatch(value) is None:
            raise errors.InvalidInputError(
                field=field,
                rule=f"{value[:40]!r}: Cloud Map needs an attribute value of 0-1024 printable "
                "ASCII characters, spaces or tabs, not starting with a space or tab",
            )
