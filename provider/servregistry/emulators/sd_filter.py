"""The ``filter`` subset the Service Directory emulator understands (AIP-160 style), with the
semantics the v1 API reference gives for ``List*Request.filter`` and
``ResolveServiceRequest.endpoint_filter``.

Supported: comparisons ``FIELD OP VALUE`` with OP one of ``=``, ``!=``, ``<``, ``>``, ``<=``,
``>=`` and ``:`` (has: "roughly the same as ``=``"; ``MAP.k:*`` and ``MAP:k`` test presence),
and a bare ``MAP.k``, which tests presence ("``labels.owner`` returns namespaces that have a
label with the key ``owner``, this is the same as ``labels:owner``"). Terms are joined by ``AND``
and ``OR`` (``OR`` binds tighter, as AIP-160 says), each optionally prefixed by ``NOT``. No
parentheses. Values may be double-quoted.

Fields are those of the resource listed (the caller passes them): ``name``, ``address``,
``port``, ``labels.<key>``, ``annotations.<key>``. ``port`` compares as a number, everything
else as a string. A comparison on a map key the object lacks is false, ``!=`` included
("``annotations.owner!=sd`` ... returns services that have ``owner`` in annotation key but value
is not ``sd``"). A term on a field the resource does not have matches nothing, negated or not
("``doesnotexist.foo=bar`` returns an empty list"), so a filter of one such term lists nothing.
Anything outside this grammar is INVALID_ARGUMENT (:class:`FilterError`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["FilterError", "compile_filter"]

_TERM = re.compile(
    r"^\s*(?P<not>NOT\s+)?(?P<field>[A-Za-z_][\w./-]*)\s*"
    r'(?:(?P<op><=|>=|!=|=|<|>|:)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]+))?\s*$'
)
_MAPS = ("labels", "annotations")

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]


class FilterError(ValueError):
    """The filter is outside the supported grammar; the message says where."""


def compile_filter(text: str, fields: Collection[str]) -> Predicate:
    """A predicate over records (dicts with ``fields``; maps as dicts)."""
    text = text.strip()
    if not text:
        return lambda _record: True
    conjuncts = [
        [_term(part, fields) for part in re.split(r"\s+OR\s+", chunk)]
        for chunk in re.split(r"\s+AND\s+", text)
    ]
    return lambda record: all(any(t(record) for t in ors) for ors in conjuncts)


def _term(text: str, fields: Collection[str]) -> Predicate:
    match = _TERM.match(text)
    if match is None:
        raise FilterError(f"unsupported filter expression {text.strip()!r}")
    field, op, raw = match["field"], match["op"], match["value"]
    negate = bool(match["not"])
    head, dot, key = field.partition(".")
    if op is None:  # a bare MAP.key: presence
        if not key:
            raise FilterError(f"{field!r} needs an operator and a value")
        op, raw = ":", "*"
    value = _unquote(raw)
    if head in _MAPS and not dot and op == ":":  # MAP:key, presence of key
        key, value = value, "*"
    if head not in fields or (head in _MAPS) != bool(key) or (dot and head not in _MAPS):
        return lambda _record: False  # a field the resource does not have
    getter = _getter(head, key)
    numeric = head == "port"
    number = 0
    if numeric and value != "*":
        try:
            number = int(value)
        except ValueError:
            raise FilterError(f"port compares with a number, not {value!r}") from None

    def check(record: Record) -> bool:
        actual = getter(record)
        if actual is None:
            result = False
        elif op == ":" and value == "*":
            result = True
        elif numeric:
            result = _compare(int(actual), "=" if op == ":" else op, number)
        else:
            result = _compare(str(actual), "=" if op == ":" else op, value)
        return result != negate

    return check


def _getter(head: str, key: str) -> Callable[[Record], Any]:
    if head in _MAPS:
        return lambda record: (record.get(head) or {}).get(key)
    return lambda record: record.get(head)


def _compare(actual: Any, op: str, expected: Any) -> bool:
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    return comparisons[op](actual, expected)


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw
