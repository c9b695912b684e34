"""The SQLite endpoint-set paths made for thousands of endpoints at a time.

Reading: an ordinary row is built with ``Endpoint.trusted`` after the reader proved the rules
itself (``_trusted_endpoint``). For any row, that path must either decline (None) or build what
the general path builds, and decline every row the general path refuses.

Writing: the batch checks the parents of its creates once, not once per endpoint; a missing
service still fails every create, each on its own name, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from servregistry import Broker, Namespace, Service, errors
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.backends.sqlite.registry import (
    _ENDP,
    _BadText,
    _decode,
    _decode_stored,
    _trusted_endpoint,
    _Unreadable,
)
from servregistry.model import Endpoint
from servregistry.registry import EndpointChanges
from tests.fixtures.fuzz import addresses, examples, metadata_keys, names

#: what a TEXT column can hold as sqlite3 returns it, and what other programs may have put there
texts = st.one_of(names, names, st.text(max_size=12), st.sampled_from(["", "a\x00b", "\udc80"]))
columns = st.one_of(
    texts, texts, texts, st.integers(), st.binary(max_size=4), st.none(), st.just(_BadText(b"\xff"))
)
ports = st.one_of(
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(["80", None, b"80"]),
)
values = st.one_of(st.text(max_size=8), st.sampled_from(["\udc80", "a\x00"]), st.integers())
metadata = st.one_of(
    st.dictionaries(metadata_keys, values, max_size=3).map(json.dumps),
    st.dictionaries(metadata_keys, st.text(max_size=8), max_size=3).map(json.dumps),
    st.sampled_from(["[]", "null", "{", '"x"', '{"k": {"a": "b"}}', "", '{"\\udc80": "v"}']),
    columns,
)


def general(row: tuple[Any, ...]) -> Endpoint | None:
    try:
        found: Endpoint = _decode_stored(_ENDP, row)
    except _Unreadable:
        return None
    return found


@settings(max_examples=examples(200))
@given(
    st.tuples(columns, columns, columns, st.one_of(addresses, columns), ports, metadata),
    st.integers(1, 10**6),
)
def test_fast_read_declines_or_agrees_with_the_rules(row: tuple[Any, ...], revision: int) -> None:
    full = (*row, revision)
    fast = _trusted_endpoint(full)
    if fast is None:
        return
    slow = general(full)
    assert slow is not None, f"the rules refuse {full!r}, the fast path read {fast!r}"
    assert fast == slow
    assert fast.model_dump() == slow.model_dump()
    assert dict(fast.metadata) == slow.metadata


def test_an_ordinary_row_takes_the_fast_path_and_shares_its_metadata() -> None:
    meta = json.dumps({"owner": "cnwan-operator", "zone": "z1"}, sort_keys=True)
    rows = [("ns", "web", f"e{i}", f"10.0.0.{i}", 80, meta, i) for i in range(3)]
    read = [_trusted_endpoint(row) for row in rows]
    assert all(e is not None for e in read)
    assert read == [_decode_stored(_ENDP, row) for row in rows]
    assert read[0] is not None and read[1] is not None
    assert read[0].metadata is read[1].metadata  # one map per distinct text
    assert _decode(_ENDP, rows[0]) == read[0]


def test_an_unusual_row_is_left_to_the_rules() -> None:
    meta = json.dumps({"k": "v"})
    assert _trusted_endpoint(("ns", "web", "e", "", 0, meta, 1)) is not None  # empty address
    for row in [
        ("ns", "web", "", "10.0.0.1", 80, meta, 1),  # empty name
        ("ns", "web", "e", "10.0.0.1", 70000, meta, 1),  # port out of range
        ("ns", "web", "e", "10.0.0.1", "80", meta, 1),  # port stored as text
        ("ns", "web", "e\x00", "10.0.0.1", 80, meta, 1),  # NUL
        ("ns", "web", "e", "10.0.0.1", 80, '{"k": 1}', 1),  # a value that is not text
        ("ns", "web", "e", "10.0.0.1", 80, "[]", 1),  # not an object
    ]:
        assert _trusted_endpoint(row) is None, row


def test_a_batch_into_a_missing_service_fails_each_create_and_writes_nothing(
    tmp_path: Path,
) -> None:
    reg = SqliteRegistry(tmp_path / "registry.db")
    broker = Broker(reg)
    broker.manage_ns(Namespace("ns"))
    broker.manage_serv(Service("web", "ns"))
    create = [Endpoint(f"e{i}", "ns", "gone", f"10.0.0.{i}", 80) for i in range(3)]
    failures = reg.apply_endpoint_changes(EndpointChanges("ns", "gone", create=create))
    assert set(failures) == {"e0", "e1", "e2"}
    assert all(isinstance(f, errors.ParentNotFoundError) for f in failures.values())
    assert "gone" in str(failures["e0"])
    here = [Endpoint(f"e{i}", "ns", "web", f"10.0.0.{i}", 80) for i in range(3)]
    assert reg.apply_endpoint_changes(EndpointChanges("ns", "web", create=here)) == {}
    assert [e.name for e in reg.list_endp("ns", "web")] == ["e0", "e1", "e2"]
    reg.close()
