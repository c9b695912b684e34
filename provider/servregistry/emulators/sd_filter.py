"""The ``filter`` subset the Service Directory emulator understands (AIP-160 style).

Supported: comparisons ``FIELD OP VALUE`` with OP one of ``=``, ``!=``, ``<``, ``>``, ``<=``,
``>=`` and ``:`` (has; ``labels.k:*`` tests presence), joined by ``AND`` and ``OR`` (``OR`` binds
tighter, as AIP-160 says), each optionally prefixed by ``NOT``. No parentheses. Values may be
double-quoted. Fields: ``name``, ``address``, ``port``, ``labels.<key>``,
``annotations.<key>``, ``metadata.<key>`` (the annotations' older name). ``port`` compares as
a number, everything else as a string. Anything else is INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FilterError", "compile_filter"]

_TERM = re.compile(
    r"^\s*(?P<not>NOT\s+)?(?P<field>[A-Za-z_][\w./-]*)\s*(?P<op><=|>=|!=|=|<|>|:)\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]+)\s*$'
)
_FIELDS = ("name", "address", "port")
_MAPS = ("labels", "annotations", "metadata")

Record = Mapping[str, Any]


class FilterError(ValueError):
    """The filter is outside the supported subset; the message says where."""


def compile_filter(text: str) -> Callable[[Record], bool]:
    """A predicate over records (dicts with the fields above; maps as dicts)."""
    text = text.strip()
    if not text:
        return lambda _record: True
    conjuncts = [
        [_term(part) for part in re.split(r"\s+OR\s+", chunk)]
        for chunk in re.split(r"\s+AND\s+", text)
    ]
    return lambda record: all(any(t(record) for t in ors) for ors in conjuncts)


def _term(text: str) -> Callable[[Record], bool]:
    match = _TERM.match(text)
    if match is None:
        raise FilterError(f"unsupported filter expression {text.strip()!r}")
    field, op, raw = match["field"], match["op"], match["value"]
    negate = bool(match["not"])
    value = _unquote(raw)
    getter = _getter(field)
    numeric = field == "port"
    if numeric and value != "*":
        try:
            number = int(value)
        except ValueError:
            raise FilterError(f"port compares with a number, not {value!r}") from None

    def check(record: Record) -> bool:
        actual = getter(record)
        if op == ":":
            result = actual is not None and (value == "*" or value in str(actual))
        elif actual is None:
            result = op == "!="
        elif numeric:
            result = _compare(int(actual), op, number)
        else:
            result = _compare(str(actual), op, value)
        return result != negate

    return check


def _getter(field: str) -> Callable[[Record], Any]:
    if field in _FIELDS:
        return lambda record: record.get(field)
    head, _, key = field.partition(".")
    if head in _MAPS and key:
        source = "annotations" if head == "metadata" else head
        return lambda record: (record.get(source) or {}).get(key)
    raise FilterError(f"unsupported filter field {field!r}")


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
