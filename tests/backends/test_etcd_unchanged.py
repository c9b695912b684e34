"""The etcd no-op fast path: endpoints stored exactly as wanted are recognised byte for byte,
without being decoded (``EtcdRegistry.list_endp_unchanged``).

The property: whatever is stored (written by us, by a foreign writer, quoted, reordered, not
an endpoint at all) and whatever is wanted, every endpoint named unchanged is the endpoint
``list_endp`` reads there and equals the wanted one as written, and every other stored
endpoint is listed exactly as ``list_endp`` lists it.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.etcd import EtcdRegistry, layout
from servregistry.broker import _as_written
from servregistry.emulators.etcd import EtcdServer
from servregistry.registry import Wanted
from tests.fixtures.fuzz import examples

NS, SERV = "fast", "web"
#: names and values that are plain, that YAML would quote, and that need escapes
TEXTS = ["a", "e-1", "yes", "123", "1.10", "a:b", "x.y/z", "has space", "ü", "null", "~"]
ADDRESSES = ["10.0.0.1", "10.0.0.2", "fd00::1", "::1"]


def fresh(reg: EtcdRegistry) -> EtcdRegistry:
    """A second registry on the same prefix, with nothing cached."""
    hosts = [f"{host}:{port}" for host, port in reg.endpoints]
    return EtcdRegistry(hosts, prefix=reg.prefix)


def wanted_of(broker: Broker, endpoints: list[Endpoint]) -> dict[str, Wanted]:
    return broker._desired_endpoints(broker._registry(), NS, SERV, endpoints)


def as_written(wanted: Wanted) -> Endpoint:
    return _as_written(wanted, NS, SERV)


endpoint_fields = st.tuples(
    st.sampled_from(["e0", "e1", "e2", "yes", "123", "a:b", "x\ny"]),
    st.sampled_from(ADDRESSES),
    st.sampled_from([80, 8080]),
    st.dictionaries(st.sampled_from(TEXTS), st.sampled_from(TEXTS), max_size=3),
)
#: how a stored endpoint was written: by the Broker, by a foreign writer, as text by hand
HOW = ["ours", "foreign", "reordered", "quoted name", "not an endpoint"]


Fields = tuple[str, str, int, dict[str, str]]
#: what a wanted endpoint is: a stored one (by index) as it is or with one field from
#: ``fields`` instead, or ``fields`` itself ("new")
CHANGES = ["same", "address", "port", "metadata", "new"]


def wanted_fields(stored: list[Fields], index: int, change: str, fields: Fields) -> Fields:
    if change == "new" or not stored:
        return fields
    name, address, port, metadata = stored[index % len(stored)]
    if change == "address":
        address = fields[1]
    elif change == "port":
        port = fields[2]
    elif change == "metadata":
        metadata = fields[3]
    return name, address, port, metadata


@given(
    stored=st.lists(st.tuples(endpoint_fields, st.sampled_from(HOW)), max_size=6),
    changes=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(CHANGES), endpoint_fields), max_size=6
    ),
)
@settings(max_examples=examples(60), deadline=None)
def test_what_is_named_unchanged_is_what_list_endp_reads_and_equals_the_wanted(
    etcd_server: EtcdServer,
    stored: list[tuple[Fields, str]],
    changes: list[tuple[int, str, Fields]],
) -> None:
    wanted = [wanted_fields([f for f, _ in stored], *change) for change in changes]
    reg = EtcdRegistry([etcd_server.client_url], prefix=f"/fast-{uuid.uuid4().hex[:10]}/")
    try:
        broker = Broker(reg)
        broker.manage_ns(Namespace(NS))
        broker.manage_serv(Service(SERV, NS))
        for (name, address, port, metadata), how in stored:
            endp = broker.stamp(Endpoint(name, NS, SERV, address, port, metadata))
            key = layout.key_of(reg.prefix, endp)
            if how == "foreign":
                endp = endp.model_copy(update={"metadata": metadata})
            value = layout.encode(endp)
            if how == "reordered":  # the same document, metadata keys in reverse order
                head, _, tail = value.partition(b"metadata:\n")
                lines, _, rest = tail.partition(b"\naddress: ")
                ordered = b"\n".join(reversed(lines.split(b"\n"))) if lines else lines
                value = head + b"metadata:\n" + ordered + b"\naddress: " + rest
            elif how == "quoted name":
                value = value.replace(f"name: {name}\n".encode(), f"name: '{name}'\n".encode(), 1)
            elif how == "not an endpoint":
                value = b"name: [" + name.encode()
            reg.client.put(key, value)
        desired = [Endpoint(n, NS, SERV, a, p, m) for n, a, p, m in wanted]
        by_name = {e.name: e for e in desired}
        desired = list(by_name.values())  # one per name (the Broker refuses other duplicates)
        wants = wanted_of(broker, desired)

        listing = {e.name: e for e in fresh(reg).list_endp(NS, SERV)}
        listed, unchanged = fresh(reg).list_endp_unchanged(NS, SERV, wants)

        for name in unchanged:
            assert listing[name] == as_written(wants[name])
        assert {e.name: e for e in listed} == {
            name: e for name, e in listing.items() if name not in unchanged
        }
        for (name, *_), how in stored:
            endp = listing.get(name)
            if how == "ours" and name in wants and endp == as_written(wants[name]):
                texts = [name, endp.address, *(t for pair in endp.metadata.items() for t in pair)]
                if all(map(layout._plain, texts)):  # written as the fast path writes: recognised
                    assert name in unchanged
    finally:
        reg.client.delete_prefix(reg.prefix)
        reg.close()


@pytest.fixture
def stored_set(etcd_registry: EtcdRegistry) -> tuple[EtcdRegistry, list[Endpoint]]:
    broker = Broker(etcd_registry)
    broker.manage_ns(Namespace(NS))
    broker.manage_serv(Service(SERV, NS))
    desired = [
        Endpoint(f"e{i:03d}", NS, SERV, f"10.0.0.{i}", 80, {"zone": f"z{i % 3}"}) for i in range(60)
    ]
    assert broker.manage_serv_endps(NS, SERV, desired) == {}
    return etcd_registry, desired


def test_a_no_op_decodes_and_caches_nothing(
    stored_set: tuple[EtcdRegistry, list[Endpoint]],
) -> None:
    """On a registry that read nothing yet, a reconcile that changes nothing leaves its cache
    empty: no stored endpoint was decoded (each would be cached)."""
    reg, desired = stored_set
    cold = fresh(reg)
    assert Broker(cold).manage_serv_endps(NS, SERV, desired) == {}
    assert len(cold._cache) == 0
    listed, unchanged = fresh(reg).list_endp_unchanged(NS, SERV, wanted_of(Broker(cold), desired))
    assert (listed, len(unchanged)) == ([], 60)


def test_equal_values_written_otherwise_are_decoded_and_left_alone(
    stored_set: tuple[EtcdRegistry, list[Endpoint]],
) -> None:
    """A value that is the same endpoint in other bytes (a quoted name) is not recognised by
    bytes, so it is decoded, found equal, and not written."""
    reg, desired = stored_set
    key = layout.endp_key(reg.prefix, NS, SERV, "e007")
    value, _ = reg.client.get(key)
    assert value is not None
    reg.client.put(key, value.replace(b"name: e007\n", b"name: 'e007'\n"))
    _, before = reg.client.get(key)
    cold = fresh(reg)
    listed, unchanged = cold.list_endp_unchanged(NS, SERV, wanted_of(Broker(cold), desired))
    assert [e.name for e in listed] == ["e007"] and len(unchanged) == 59
    assert Broker(fresh(reg)).manage_serv_endps(NS, SERV, desired) == {}
    _, after = reg.client.get(key)
    assert before is not None and after is not None
    assert after.mod_revision == before.mod_revision  # not rewritten


def test_a_changed_endpoint_is_listed_and_written(
    stored_set: tuple[EtcdRegistry, list[Endpoint]],
) -> None:
    reg, desired = stored_set
    changed = [*desired[:5], desired[5].model_copy(update={"port": 81}), *desired[6:]]
    cold = fresh(reg)
    listed, unchanged = cold.list_endp_unchanged(NS, SERV, wanted_of(Broker(cold), changed))
    assert [e.name for e in listed] == ["e005"] and "e005" not in unchanged
    assert Broker(fresh(reg)).manage_serv_endps(NS, SERV, changed) == {}
    assert fresh(reg).get_endp(NS, SERV, "e005").port == 81


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["e0", "e1", "web-01", "yes", "123", "a:b", "x y", "ü", "x\ny"]),
            st.sampled_from(ADDRESSES),
            st.integers(0, 65535),
            st.dictionaries(st.sampled_from(TEXTS), st.sampled_from(TEXTS), max_size=3),
        ),
        max_size=8,
    ),
    st.sampled_from([("fast", "web"), ("fast", "has space"), ("ü", "web")]),
)
@settings(max_examples=examples(200), deadline=None)
def test_each_expected_value_reads_back_as_the_endpoint_as_written(
    fields: list[Fields], parents: tuple[str, str]
) -> None:
    """``PlainEndpointText.of``, whether it takes its one-text path (every scalar plain) or goes
    endpoint by endpoint: each key is the endpoint's key, each value decodes to the endpoint as
    written, and every endpoint whose texts YAML writes plain is there."""
    ns_name, serv_name = parents
    broker = Broker(EtcdRegistry(["127.0.0.1:1"], prefix="/p/"))
    desired = {n: Endpoint(n, ns_name, serv_name, a, p, m) for n, a, p, m in fields}
    wants = broker._desired_endpoints(broker._registry(), ns_name, serv_name, desired.values())
    texts = layout.PlainEndpointText("/p/", ns_name, serv_name)
    expected = texts.of(wants)
    names = texts.names_of(list(expected))
    assert sorted(names) == sorted({*names}) and set(names) <= set(wants)
    for key, name in zip(expected, names, strict=True):
        written = _as_written(wants[name], ns_name, serv_name)
        assert key == layout.key_of("/p/", written).encode()
        assert layout.decode(Endpoint, expected[key], layout.names_of("/p/", key.decode())) == (
            written
        )
    for name, want in wants.items():
        written = _as_written(want, ns_name, serv_name)
        texts_of = [ns_name, serv_name, name, written.address]
        texts_of += [t for pair in written.metadata.items() for t in pair]
        if all(map(layout._plain, texts_of)):
            assert layout.key_of("/p/", written).encode() in expected
