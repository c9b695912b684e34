"""etcd specifics on a real etcd: the CN-WAN layout and values, sibling safety, batching,
revision guards, timeouts."""

from __future__ import annotations

import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import yaml

from bench.endpoint_sets import Counting
from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.base import UNREACHABLE
from servregistry.backends.etcd import layout
from servregistry.backends.etcd.registry import PIPELINE_DEPTH, EtcdRegistry
from servregistry.registry import EndpointChanges
from tests.fixtures.etcd import ETCD_ROOT_PASSWORD, ETCD_TOKEN_TTL, EtcdServer

TRICKY = [
    "plain",
    "yes",
    "No",
    "null",
    "~",
    "1.10",
    "0x1F",
    "1:20",
    "a: b",
    "x #y",
    "",
    " lead",
    "trail:",
    "-dash",
    "naïve",
    "line\nbreak",
    "2001:db8::1",
    "10.0.0.1",
    "cnwan.io/traffic-profile",
]


def slow_encode(obj: Namespace | Service | Endpoint) -> bytes:
    doc: dict[str, object] = {"name": obj.name}
    if isinstance(obj, Endpoint):
        doc["serviceName"] = obj.serv_name
    if isinstance(obj, Service | Endpoint):
        doc["namespaceName"] = obj.ns_name
    doc["metadata"] = dict(sorted(obj.metadata.items()))
    if isinstance(obj, Endpoint):
        doc["address"], doc["port"] = obj.address, obj.port
    return yaml.dump(
        doc, sort_keys=False, indent=4, allow_unicode=True, default_flow_style=False
    ).encode()


@pytest.mark.parametrize("value", TRICKY)
def test_values_match_the_yaml_library_and_round_trip(value: str) -> None:
    objs = [
        Namespace("ns", {value: value} if value else {"k": value}),
        Service("web", "ns", {"k": value}),
        Endpoint("e1", "ns", "web", "2001:db8::1", 443, {"k": value}),
    ]
    for obj in objs:
        raw = layout.encode(obj)
        assert raw == slow_encode(obj)
        assert layout.decode(type(obj), raw) == obj


def test_raw_layout_is_the_seeds(etcd_registry: EtcdRegistry) -> None:
    reg = etcd_registry
    reg.create_ns(Namespace("prod", {"owner": "me"}))
    reg.create_serv(Service("web", "prod"))
    reg.create_endp(Endpoint("web-1", "prod", "web", "10.0.0.1", 8080, {"a": "1"}))
    raw, _ = reg.client.get(f"{reg.prefix}namespaces/prod/services/web/endpoints/web-1")
    assert raw.decode() == (
        "name: web-1\nserviceName: web\nnamespaceName: prod\nmetadata:\n    a: '1'\n"
        "address: 10.0.0.1\nport: 8080\n"
    )
    raw, _ = reg.client.get(f"{reg.prefix}namespaces/prod/services/web")
    assert yaml.safe_load(raw) == {"name": "web", "namespaceName": "prod", "metadata": {}}


def test_deleting_prod_leaves_prod_eu(etcd_registry: EtcdRegistry) -> None:
    reg = etcd_registry
    for ns in ("prod", "prod-eu"):
        reg.create_ns(Namespace(ns, {"owner": "cnwan-operator"}))
        reg.create_serv(Service("web", ns, {"owner": "cnwan-operator"}))
        reg.create_serv(Service("web-eu", ns, {"owner": "cnwan-operator"}))
        reg.create_endp(Endpoint("e", ns, "web-eu", "10.0.0.1", 1, {"owner": "cnwan-operator"}))
    reg.delete_serv("prod", "web")
    assert [s.name for s in reg.list_serv("prod")] == ["web-eu"]
    Broker(reg).remove_ns("prod", force_not_empty=True)
    assert [n.name for n in reg.list_ns()] == ["prod-eu"]
    assert [s.name for s in reg.list_serv("prod-eu")] == ["web", "web-eu"]
    assert [e.name for e in reg.list_endp("prod-eu", "web-eu")] == ["e"]


def test_names_with_a_separator_are_refused_before_writing(etcd_registry: EtcdRegistry) -> None:
    with pytest.raises(errors.InvalidInputError, match="/"):
        Broker(etcd_registry).manage_ns(Namespace("a/b"))
    assert etcd_registry.list_ns() == []


def test_endpoint_sets_are_written_in_batched_transactions(etcd_registry: EtcdRegistry) -> None:
    reg = etcd_registry
    broker = Broker(reg)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    counter = Counting(reg.client)
    reg._client = counter
    desired = [Endpoint(f"e{i:03d}", "prod", "web", "10.0.0.1", i) for i in range(300)]
    assert broker.manage_serv_endps("prod", "web", desired) == {}
    # one range read, then 300 puts in transactions of at most 128 operations and compares
    # (two of which guard the namespace and the service)
    assert counter.calls == 1 + 3
    assert len(reg.list_endp("prod", "web")) == 300
    counter.calls = 0
    assert broker.manage_serv_endps("prod", "web", desired) == {}
    assert counter.calls == 1  # no-op: the read only


def test_a_concurrent_change_is_a_conflict_not_an_overwrite(
    etcd_server: EtcdServer, etcd_registry: EtcdRegistry
) -> None:
    reg = etcd_registry
    other = EtcdRegistry([etcd_server.client_url], prefix=reg.prefix)
    try:
        reg.create_ns(Namespace("prod"))
        reg.create_serv(Service("web", "prod"))
        reg.create_endp(Endpoint("e", "prod", "web", "10.0.0.1", 1))
        reg.list_endp("prod", "web")  # reg now knows the endpoint's revision
        other.update_endp(Endpoint("e", "prod", "web", "10.0.0.2", 2))
        with pytest.raises(errors.ConflictError):
            reg.update_endp(Endpoint("e", "prod", "web", "10.0.0.3", 3))
        assert other.get_endp("prod", "web", "e").address == "10.0.0.2"
    finally:
        other.close()


def test_a_conflict_inside_a_pipelined_set_fails_only_that_endpoint(
    etcd_server: EtcdServer, etcd_registry: EtcdRegistry
) -> None:
    """Four batches in flight at once; someone changes one endpoint of the third batch between
    the Broker's read and the write: that endpoint fails, every other one is written."""
    reg = etcd_registry
    broker = Broker(reg)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    first = [Endpoint(f"e{i:03d}", "prod", "web", "10.0.0.1", 1) for i in range(400)]
    assert broker.manage_serv_endps("prod", "web", first) == {}
    other = EtcdRegistry([etcd_server.client_url], prefix=reg.prefix)
    apply = reg.apply_endpoint_changes

    def meanwhile(changes: EndpointChanges) -> dict[str, errors.ServiceRegistryError]:
        theirs = other.get_endp("prod", "web", "e300")
        other.update_endp(theirs.model_copy(update={"port": 7}))
        return apply(changes)

    reg.apply_endpoint_changes = meanwhile  # type: ignore[method-assign]
    try:
        second = [e.model_copy(update={"port": 2}) for e in first]
        failures = broker.manage_serv_endps("prod", "web", second)
    finally:
        other.close()
    assert list(failures) == ["e300"]
    assert isinstance(failures["e300"], errors.ConflictError)
    ports = {e.name: e.port for e in reg.list_endp("prod", "web")}
    assert ports.pop("e300") == 7  # their change stands
    assert set(ports.values()) == {2} and len(ports) == 399


def test_a_missing_parent_is_reported_and_nothing_written(etcd_registry: EtcdRegistry) -> None:
    with pytest.raises(errors.ParentNotFoundError, match="prod"):
        etcd_registry.create_serv(Service("web", "prod"))
    assert list(etcd_registry.client.get_prefix(etcd_registry.prefix)) == []


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_timeouts_become_registry_timeout_errors(silent_port: int) -> None:
    reg = EtcdRegistry([f"127.0.0.1:{silent_port}"], timeout=0.5)
    try:
        with pytest.raises(errors.RegistryTimeoutError):
            reg.list_ns()
    finally:
        reg.close()


def test_a_timed_out_endpoint_set_stops_sending_batches(silent_port: int) -> None:
    """24 batches to an etcd that never answers: the first timeout ends the write; batches
    not yet sent are never sent (only those already in flight time out too)."""
    reg = EtcdRegistry([f"127.0.0.1:{silent_port}"], timeout=0.3)
    counter = Counting(reg.client)
    reg._client = counter
    create = [Endpoint(f"e{i:04d}", "prod", "web", "10.0.0.1", 1) for i in range(126 * 24)]
    try:
        with pytest.raises(UNREACHABLE) as caught:
            reg.apply_endpoint_changes(EndpointChanges("prod", "web", create=create))
        assert not str(caught.value).startswith("not attempted")  # the real failure
    finally:
        reg.close()
    assert 1 <= counter.calls <= 2 * PIPELINE_DEPTH


def test_url_forms() -> None:
    reg = EtcdRegistry.from_url("etcd://10.0.0.1:2379,10.0.0.2/?timeout=3&user=root")
    assert reg.endpoints == [("10.0.0.1", 2379), ("10.0.0.2", 2379)]
    assert (reg.prefix, reg.timeout, reg.user) == ("/service-registry/", 3.0, "root")
    assert EtcdRegistry.from_url("etcd://h:1/custom").prefix == "/custom/"
    with pytest.raises(errors.InvalidInputError, match="credentials"):
        EtcdRegistry.from_url("etcd://root:pw@h:1/")
    with pytest.raises(errors.InvalidInputError, match="unknown"):
        EtcdRegistry.from_url("etcd://h:1/?colour=blue")


@pytest.mark.parametrize(
    "text",
    [
        "name: a\nmetadata:\n    k: v\n    x: y\nport: 80\n",
        "name: a\nmetadata: {}\n",
        "name:\nmetadata:\n",
        "name: a\nmetadata:\n  k: v\n",
        "name: a # comment\n",
        "name: 'quoted'\nmetadata: {k: v}\n",
        "name: a\nmetadata:\n    k: 'x: y'\n",
    ],
)
def test_fast_reader_agrees_with_the_yaml_library(text: str) -> None:
    fast = layout._fast_decode(text)
    if fast is not None:
        assert fast == yaml.load(text, Loader=yaml.BaseLoader)
    doc = layout.decode(Namespace, text.encode()) if "name: a" in text else None
    if doc is not None:
        assert doc.name == "a"


def test_an_expired_auth_token_is_renewed(etcd_auth_server: EtcdServer) -> None:
    reg = EtcdRegistry(
        [etcd_auth_server.client_url],
        f"/renew-{uuid.uuid4().hex[:8]}/",
        user="root",
        password=ETCD_ROOT_PASSWORD,
    )
    try:
        reg.create_ns(Namespace("prod"))
        time.sleep(ETCD_TOKEN_TTL + 1.5)  # the token expires without use
        assert reg.get_ns("prod") == Namespace("prod")
        time.sleep(ETCD_TOKEN_TTL + 1.5)
        assert [ns.name for ns in reg.list_ns()] == ["prod"]
        time.sleep(ETCD_TOKEN_TTL + 1.5)
        reg.create_serv(Service("web", "prod"))  # a guarded transaction
        assert reg.get_serv("prod", "web") == Service("web", "prod")
    finally:
        reg.close()


def test_random_values_encode_as_the_yaml_library_and_read_back() -> None:
    """The fast writer and reader (plain and single-quoted scalars) against the YAML library,
    on random strings and on strings YAML would read as numbers, booleans, nulls or times."""
    rng = random.Random(7)
    implicit = [
        "100",
        "1.10",
        "yes",
        "No",
        "null",
        "~",
        "0x1F",
        "1:20",
        "1_000",
        "+1",
        "-1",
        "1e3",
        ".5",
        "2001-01-01",
        "true",
        "on",
        "y",
        "=",
        ".inf",
        "010",
        "a:b",
        "a:",
    ]
    chars = "abXY019_.:/-+ e#'\"~"
    for _ in range(3000):
        if rng.random() < 0.3:
            value = rng.choice(implicit)
        else:
            value = "".join(rng.choice(chars) for _ in range(rng.randint(1, 6)))
        for obj in (
            Namespace("n", {"k": value, value: "x"}),
            Endpoint("e", "n", "s", "10.0.0.1", 1, {"k": value}),
        ):
            raw = layout.encode(obj)
            assert raw == slow_encode(obj), value
            assert layout.decode(type(obj), raw) == obj, value


def test_authentication_errors_name_the_option(etcd_auth_server: EtcdServer) -> None:
    anonymous = EtcdRegistry([etcd_auth_server.client_url])
    wrong = EtcdRegistry([etcd_auth_server.client_url], user="root", password="wrong")
    try:
        with pytest.raises(errors.InvalidInputError, match="requires authentication") as caught:
            anonymous.list_ns()
        assert caught.value.field == "registry.user"
        with pytest.raises(errors.InvalidInputError, match="refused user 'root'") as caught:
            wrong.list_ns()
        assert caught.value.field == "registry.password"
    finally:
        anonymous.close()
        wrong.close()
