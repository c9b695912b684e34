"""The trusted construction path gives the very object the validated one gives.

``Endpoint.trusted`` builds an endpoint without running the model's rules, for fields already
proven to satisfy them; ``shared_metadata`` lets many objects hold one read-only map. Both must
be indistinguishable from ``Endpoint.stored`` (and, for what the Broker writes, from a
``model_copy`` of the caller's endpoint) in everything a caller can observe: equality, field
order, the fields set, dumps, repr, pickles, copies.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servregistry import Broker, Endpoint, MetadataPair
from servregistry.broker import _as_written
from servregistry.model import shared_metadata, unstorable
from tests.fixtures.fuzz import addresses, examples, metadata_keys, names

#: what ``Endpoint.stored`` accepts: non-empty storable names, any storable address
stored_names = names.filter(lambda s: bool(s) and unstorable(s) is None)
stored_addresses = addresses.filter(lambda s: unstorable(s) is None)
stored_metadata = st.dictionaries(
    metadata_keys.filter(lambda s: unstorable(s) is None),
    st.one_of(st.from_regex(r"[a-z0-9_-]{0,20}", fullmatch=True), st.text(max_size=40)).filter(
        lambda s: unstorable(s) is None
    ),
    max_size=4,
)
stored_ports = st.integers(0, 65535)


def observed(endp: Endpoint) -> dict[str, Any]:
    """Everything a caller can see of an endpoint."""
    return {
        "type": type(endp),
        "dict": list(endp.__dict__.items()),
        "fields_set": set(endp.model_fields_set),
        "dump": endp.model_dump(),
        "json": endp.model_dump_json(),
        "repr": repr(endp),
        "extra": endp.__pydantic_extra__,
        "private": endp.__pydantic_private__,
    }


def assert_same(fast: Endpoint, checked: Endpoint) -> None:
    assert fast == checked
    assert observed(fast) == observed(checked)
    for copied in (pickle.loads(pickle.dumps(fast)), copy.deepcopy(fast), copy.copy(fast)):
        assert copied == checked
        assert observed(copied) == observed(checked)


@settings(max_examples=examples(300))
@given(
    name=stored_names,
    ns_name=stored_names,
    serv_name=stored_names,
    address=stored_addresses,
    port=stored_ports,
    meta=stored_metadata,
    shared=st.booleans(),
)
def test_a_trusted_endpoint_is_the_stored_endpoint(
    name: str,
    ns_name: str,
    serv_name: str,
    address: str,
    port: int,
    meta: dict[str, str],
    shared: bool,
) -> None:
    fields = {"name": name, "ns_name": ns_name, "serv_name": serv_name}
    checked = Endpoint.stored({**fields, "address": address, "port": port, "metadata": meta})
    held = shared_metadata(meta) if shared else dict(meta)
    fast = Endpoint.trusted(name, ns_name, serv_name, address, port, held)
    assert_same(fast, checked)


@pytest.mark.parametrize(
    "fields",
    [
        ("web-1", "prod", "web", "10.0.0.1", 8080, {"owner": "me", "zone": "z1"}),
        ("a", "n", "s", "", 0, {}),
        ("a", "n", "s", "db.internal", 65535, {"k": "v"}),
        ("é", "ñ", "ß", "::1", 1, {"clé": "välue"}),
    ],
)
def test_a_trusted_endpoint_is_the_stored_endpoint_by_example(fields: tuple[Any, ...]) -> None:
    name, ns_name, serv_name, address, port, meta = fields
    checked = Endpoint.stored(
        {
            "name": name,
            "ns_name": ns_name,
            "serv_name": serv_name,
            "address": address,
            "port": port,
            "metadata": meta,
        }
    )
    assert_same(Endpoint.trusted(*fields), checked)


@pytest.mark.parametrize("trusted", [True, False])
def test_copies_of_endpoints_do_not_share_what_they_change(trusted: bool) -> None:
    """Endpoints built the same way share one set of field names (trusted or validated); a
    copy with changes gets its own."""
    if trusted:
        one = Endpoint.trusted("a", "n", "s", "10.0.0.1", 80, shared_metadata({"k": "v"}))
        two = Endpoint.trusted("b", "n", "s", "10.0.0.2", 80, shared_metadata({"k": "v"}))
    else:
        one = Endpoint("a", "n", "s", "10.0.0.1", 80, {"k": "v"})
        two = Endpoint("b", "n", "s", "10.0.0.2", 80, {"k": "v"})
    assert one.__pydantic_fields_set__ is two.__pydantic_fields_set__
    before = set(two.model_fields_set)
    moved = one.model_copy(update={"port": 81, "metadata": {"k": "w"}})
    assert (moved.port, moved.metadata, one.port, one.metadata) == (81, {"k": "w"}, 80, {"k": "v"})
    assert two.model_fields_set == before
    with pytest.raises(ValueError, match="frozen"):
        one.port = 82
    assert one.model_fields_set == before


def test_shared_metadata_is_read_only_and_copies_are_ordinary_dicts() -> None:
    meta = shared_metadata({"owner": "me", "zone": "z1"})
    assert meta == {"owner": "me", "zone": "z1"} and isinstance(meta, dict)
    assert shared_metadata(meta) is meta
    for change in (
        lambda m: m.__setitem__("zone", "z2"),
        lambda m: m.__delitem__("zone"),
        lambda m: m.update(zone="z2"),
        lambda m: m.pop("zone"),
        lambda m: m.popitem(),
        lambda m: m.setdefault("new", "x"),
        lambda m: m.clear(),
        lambda m: m.__ior__({"zone": "z2"}),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change(meta)
    assert meta == {"owner": "me", "zone": "z1"}
    for copied in (dict(meta), meta.copy(), copy.copy(meta), copy.deepcopy(meta)):
        assert type(copied) is dict and copied == meta
        copied["zone"] = "z2"
    assert type(pickle.loads(pickle.dumps(meta))) is dict
    assert meta == {"owner": "me", "zone": "z1"}


@settings(max_examples=examples(200))
@given(
    name=stored_names,
    address=st.sampled_from(["10.0.0.1", "::1", "192.168.7.9", "fe80::1"]),
    port=stored_ports,
    meta=stored_metadata.filter(lambda m: not {"owner", "pulumi-stack", "holder"} & set(m)),
    stack=st.booleans(),
)
def test_what_the_broker_writes_is_the_stamped_copy_of_the_callers_endpoint(
    name: str, address: str, port: int, meta: dict[str, str], stack: bool
) -> None:
    """The Broker builds the endpoints it writes with the trusted path; they are the copies it
    made before (``model_copy`` moving the endpoint under the service, with our pairs)."""
    broker = Broker(
        object(),  # type: ignore[arg-type]
        stack=MetadataPair("pulumi-stack", "p_dev") if stack else None,
        holder=MetadataPair("holder", "eps-1"),
    )
    given_endp = Endpoint(name, "elsewhere", "other", address, port, meta)
    stamped = broker._stamp(given_endp.metadata)
    expected = given_endp.model_copy(
        update={"ns_name": "prod", "serv_name": "web", "metadata": stamped}
    )
    written = _as_written((given_endp, shared_metadata(stamped)), "prod", "web")
    assert written == expected
    assert observed(written) | {"fields_set": None} == observed(expected) | {"fields_set": None}
