"""Detailed diffs for ``preview --diff``: which inputs change, and for an endpoint set which
endpoints, by name (no positional phantoms when one endpoint in the middle goes away).

The engine shows a detailed diff by reading each path's old value from the state's outputs (from
its old inputs for a path marked as an input diff, as the endpoints are: the outputs keep only
their digest) and its new value from the checked inputs; both list endpoints sorted by name
(``check`` sorts the inputs; outputs written by earlier releases are sorted too), so an
endpoint's index on each side is where that side holds it. An added endpoint is named at its
new index, a removed one at its old index, a changed one at its index when both sides agree
(else as removed and added).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from pulumi.runtime.proto import provider_pb2

from servregistry.providers.base import is_unknown

Kind: TypeAlias = "provider_pb2.PropertyDiff.Kind.ValueType"
ADD = provider_pb2.PropertyDiff.ADD
DELETE = provider_pb2.PropertyDiff.DELETE
UPDATE = provider_pb2.PropertyDiff.UPDATE
#: inputs whose outputs hold a resolved value (the input, else the provider config, else a default)
SETTINGS = frozenset({"registry", "ownerKey", "ownerValue"})
_REPLACING = {
    provider_pb2.PropertyDiff.ADD: provider_pb2.PropertyDiff.ADD_REPLACE,
    provider_pb2.PropertyDiff.DELETE: provider_pb2.PropertyDiff.DELETE_REPLACE,
    provider_pb2.PropertyDiff.UPDATE: provider_pb2.PropertyDiff.UPDATE_REPLACE,
}


def detailed_diff(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    inputs: Iterable[str],
    replaces: Iterable[str],
) -> dict[str, Kind]:
    """Property path → kind of change, over the ``inputs`` (camelCase) of old outputs ``olds``
    and new inputs ``news``; a property in ``replaces`` is marked as replacing (and listed even
    when its own value did not change, as when the registry config moved). The settings
    (registry, owner pair) are listed only when they replace: their outputs hold the resolved
    value, their inputs may leave it to the provider config."""
    replacing = set(replaces)
    paths: dict[str, Kind] = {}
    for key in sorted(set(inputs) | replacing):
        old, new = olds.get(key), news.get(key)
        if key in SETTINGS and key not in replacing:
            continue
        if key == "endpoints" and isinstance(old, list) and isinstance(new, list):
            paths.update(endpoint_diff(old, new))
        elif _empty(old) and _empty(new):
            pass
        elif _empty(old):
            paths[key] = ADD
        elif _empty(new):
            paths[key] = DELETE
        elif is_unknown(new) or old != new:
            paths[key] = UPDATE
        if key in replacing:
            own = {p: k for p, k in paths.items() if p == key or p.startswith(f"{key}[")}
            paths.update({p: _REPLACING[k] for p, k in own.items()} or {key: _REPLACING[UPDATE]})
    return paths


def endpoint_diff(old: list[Any], new: list[Any]) -> dict[str, Kind]:
    """``endpoints[i]`` → kind, keyed by endpoint name (see the module docstring)."""
    olds = _by_name(old)
    news = _by_name(new)
    if olds is None or news is None:
        return {} if old == new else {"endpoints": UPDATE}
    paths: dict[str, Kind] = {}
    for name, (index, endpoint) in news.items():
        if name not in olds:
            paths[f"endpoints[{index}]"] = ADD
            continue
        old_index, old_endpoint = olds[name]
        if _same_endpoint(old_endpoint, endpoint):
            continue
        if old_index == index:
            paths[f"endpoints[{index}]"] = UPDATE
        else:
            paths[f"endpoints[{old_index}]"] = DELETE
            paths[f"endpoints[{index}]"] = ADD
    for name, (index, _) in olds.items():
        if name not in news:
            paths[f"endpoints[{index}]"] = DELETE
    return paths


def _by_name(items: list[Any]) -> dict[str, tuple[int, Mapping[str, Any]]] | None:
    out: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            return None
        out[item["name"]] = (index, item)
    return out


def _same_endpoint(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if any(is_unknown(b.get(k)) for k in ("address", "port", "metadata")):
        return False
    port_a, port_b = a.get("port"), b.get("port")
    return (
        a.get("address") == b.get("address")
        and (port_a == port_b or _number(port_a) == _number(port_b))
        and dict(a.get("metadata") or {}) == dict(b.get("metadata") or {})
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _empty(value: Any) -> bool:
    return value is None or (value in ({}, [], "") and not is_unknown(value))
