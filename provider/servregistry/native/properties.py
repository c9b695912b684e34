"""Between the engine's view of a resource and the providers' plain property dicts: names
(camelCase on the wire, snake_case in the providers), the resource's identity from its URN,
and the schema."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from servregistry.providers.ownership import label

#: the package name and the module of its resource tokens
PACKAGE = "servregistry"
TOKEN_PREFIX = f"{PACKAGE}:index:"


@cache
def schema_text() -> str:
    """The package schema, as checked in beside this module."""
    return resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")


@cache
def schema() -> dict[str, Any]:
    return dict(json.loads(schema_text()))


def input_names(token: str) -> frozenset[str]:
    """The input property names (camelCase) the schema gives the resource ``token``."""
    return frozenset(schema()["resources"][token]["inputProperties"])


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_provider(props: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys in snake_case (nested keys, such as metadata's, are data: kept)."""
    return {snake(k): v for k, v in props.items()}


def to_engine(props: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys in camelCase."""
    return {camel(k): v for k, v in props.items()}


def engine_path(field: str) -> str:
    """A provider's failure path (``owner_key``, ``endpoints[1].address``) in camelCase."""
    head, sep, tail = field.partition("[") if "[" in field else field.partition(".")
    return camel(head) + sep + tail


@dataclass(frozen=True)
class Urn:
    """What a resource's URN says: ``urn:pulumi:<stack>::<project>::<type>::<name>``."""

    stack: str
    project: str
    type: str
    name: str

    @classmethod
    def parse(cls, urn: str) -> Urn:
        parts = urn.split("::")
        if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
            raise ValueError(f"not a resource URN: {urn!r}")
        return cls(
            stack=parts[0].removeprefix("urn:pulumi:"),
            project=parts[1],
            type=parts[2].rsplit("$", 1)[-1],
            name="::".join(parts[3:]),
        )

    @property
    def stack_label(self) -> str:
        """The ``pulumi-stack`` value the Python resources write for the same stack."""
        return label(f"{self.project}_{self.stack}")
