"""Values and keys that do not fit the model belong to someone else: on a real etcd, every kind
of bad value is reported (listing, the Broker's error map, the CLI) and nothing is changed or
deleted, by reconciliation or by forced removal one and two levels up."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.etcd import EtcdRegistry, layout
from servregistry.cli import app
from tests.fixtures.etcd import EtcdServer, snapshot

OURS = {"owner": "cnwan-operator"}

#: (case, value stored at a foreign endpoint's key)
BAD_VALUES: list[tuple[str, bytes]] = [
    ("invalid YAML", b"name: x\nmetadata: {owner: cnwan-operator\naddress: [\n"),
    ("tab-indented YAML", b"name: x\n\tport: 1\n"),
    ("nested metadata", b"name: x\nmetadata:\n    owner: cnwan-operator\n    t: {a: b}\n"),
    ("metadata list", b"name: x\nmetadata:\n    - owner\n"),
    ("metadata scalar", b"name: x\nmetadata: cnwan-operator\n"),
    ("metadata value list", b"name: x\nmetadata:\n    owner: [cnwan-operator]\n"),
    ("port not a number", b"name: x\nmetadata: {owner: cnwan-operator}\nport: http\n"),
    ("port fractional", b"name: x\nmetadata: {owner: cnwan-operator}\nport: 80.5\n"),
    ("port negative", b"name: x\nmetadata: {owner: cnwan-operator}\nport: -1\n"),
    ("port out of range", b"name: x\nmetadata: {owner: cnwan-operator}\nport: 70000\n"),
    ("port a list", b"name: x\nmetadata: {owner: cnwan-operator}\nport: [1]\n"),
    ("address a mapping", b"name: x\nmetadata: {owner: cnwan-operator}\naddress: {ip: 1}\n"),
    ("unknown field", b"name: x\nmetadata: {owner: cnwan-operator}\nweight: 5\n"),
    ("name of another key", b"name: y\nmetadata: {owner: cnwan-operator}\nport: 1\n"),
    ("name a mapping", b"name: {a: b}\nmetadata: {owner: cnwan-operator}\n"),
    ("not UTF-8", b"name: x\nmetadata: {owner: \xff\xfe}\n"),
    ("empty value", b""),
    ("scalar document", b"just text\n"),
    ("list document", b"- name: x\n"),
    ("binary", bytes(range(256))),
]


@pytest.fixture
def reg(etcd_registry: EtcdRegistry) -> EtcdRegistry:
    """A registry holding namespace prod (ours) with service web (ours) and two endpoints of
    ours."""
    broker = Broker(etcd_registry)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    mine = [Endpoint(f"ours-{i}", "prod", "web", "10.0.0.1", 80 + i) for i in range(2)]
    assert broker.manage_serv_endps("prod", "web", mine) == {}
    return etcd_registry


def put(reg: EtcdRegistry, key: str, value: bytes) -> None:
    reg.client.put(key, value)


def endp_key(reg: EtcdRegistry, name: str, serv: str = "web") -> str:
    return layout.endp_key(reg.prefix, "prod", serv, name)


def hosts(server: EtcdServer) -> list[str]:
    return [server.client_url]


@pytest.mark.parametrize(("case", "value"), BAD_VALUES, ids=[c for c, _ in BAD_VALUES])
def test_a_bad_endpoint_value_is_reported_and_survives_reconcile_and_forced_removal(
    etcd_server: EtcdServer, reg: EtcdRegistry, case: str, value: bytes
) -> None:
    key = endp_key(reg, "x")
    put(reg, key, value)
    before = snapshot(hosts(etcd_server), key)
    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    assert listed["x"].unreadable, case
    assert (listed["x"].metadata, listed["x"].address, listed["x"].port) == ({}, "", 0)
    broker = Broker(reg)
    failures = broker.manage_serv_endps("prod", "web", [])
    assert list(failures) == ["x"] and isinstance(failures["x"], errors.EndpointNotOwnedError)
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="x"):
        broker.remove_serv("prod", "web", force_not_empty=True)
    with pytest.raises(errors.OwnershipError, match="x"):  # kept through its service
        broker.remove_ns("prod", force_not_empty=True)
    assert snapshot(hosts(etcd_server), key) == before  # byte for byte, same revision
    assert reg.get_serv("prod", "web").metadata == OURS
    assert [e.name for e in reg.list_endp("prod", "web")] == ["x"]  # ours went, x stayed
    assert reg.get_endp("prod", "web", "x").unreadable


def test_a_foreign_service_with_nested_metadata_keeps_its_endpoints(
    etcd_server: EtcdServer, reg: EtcdRegistry
) -> None:
    """remove_ns(force) one level up: a foreign service whose value does not fit and its valid
    foreign endpoint are both kept, with the namespace."""
    serv = layout.serv_key(reg.prefix, "prod", "theirs")
    put(reg, serv, b"name: theirs\nnamespaceName: prod\nmetadata:\n    team: {a: b}\n")
    foreign = Endpoint("e", "prod", "theirs", "10.9.9.9", 1, {"owner": "someone"})
    put(reg, endp_key(reg, "e", "theirs"), layout.encode(foreign))
    before = snapshot(hosts(etcd_server), serv)
    services = {s.name: s for s in reg.list_serv("prod")}
    assert services["theirs"].unreadable and not services["web"].unreadable
    with pytest.raises(errors.NamespaceHasForeignServicesError, match="theirs"):
        Broker(reg).remove_ns("prod", force_not_empty=True)
    assert snapshot(hosts(etcd_server), serv) == before
    assert reg.get_endp("prod", "theirs", "e") == foreign
    assert reg.get_ns("prod").metadata == OURS


@pytest.mark.parametrize("address", ["db.internal", ""])
def test_hostname_and_empty_addresses_are_read_faithfully(
    etcd_server: EtcdServer, reg: EtcdRegistry, address: str
) -> None:
    theirs = Endpoint.stored(
        {"name": "lb", "ns_name": "prod", "serv_name": "web", "address": address, "port": 443}
        | {"metadata": {"owner": "someone"}}
    )
    put(reg, endp_key(reg, "lb"), layout.encode(theirs))
    ours = Endpoint.stored(
        {"name": "old", "ns_name": "prod", "serv_name": "web", "address": address, "port": 80}
        | {"metadata": OURS}
    )
    put(reg, endp_key(reg, "old"), layout.encode(ours))
    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    assert listed["lb"] == theirs and listed["old"] == ours
    before = snapshot(hosts(etcd_server), endp_key(reg, "lb"))
    broker = Broker(reg)
    wanted = [Endpoint("old", "prod", "web", "10.0.0.7", 80)]
    failures = broker.manage_serv_endps("prod", "web", wanted)
    assert list(failures) == ["lb"]  # ours is reconciled like any other, theirs left alone
    assert reg.get_endp("prod", "web", "old").address == "10.0.0.7"
    assert list(broker.manage_serv_endps("prod", "web", [])) == ["lb"]  # ours deleted
    assert [e.name for e in reg.list_endp("prod", "web")] == ["lb"]
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="lb"):
        broker.remove_serv("prod", "web", force_not_empty=True)
    with pytest.raises(errors.OwnershipError, match="lb"):
        broker.remove_ns("prod", force_not_empty=True)
    assert snapshot(hosts(etcd_server), endp_key(reg, "lb")) == before
    assert reg.get_endp("prod", "web", "lb") == theirs


def test_keys_outside_the_layout_count_and_are_kept(
    etcd_server: EtcdServer, reg: EtcdRegistry
) -> None:
    serv = layout.serv_key(reg.prefix, "prod", "web")
    ns = layout.ns_key(reg.prefix, "prod")
    strays = {
        f"{serv}/endpoints/a/b": b"deeper than an endpoint",
        f"{serv}/notes": b"a key beside the endpoints",
        f"{ns}/services/ghost/endpoints/e": b"name: e\n",  # no service key 'ghost'
        f"{ns}/annotations": b"x",
    }
    for key, value in strays.items():
        put(reg, key, value)
    before = snapshot(hosts(etcd_server), reg.prefix)
    endps = {e.name: e for e in reg.list_endp("prod", "web")}
    assert {k for k, e in endps.items() if e.unreadable} == {
        f"{serv}/endpoints/a/b",
        f"{serv}/notes",
    }
    servs = {s.name: s for s in reg.list_serv("prod")}
    assert {k for k, s in servs.items() if s.unreadable} == {"ghost", f"{ns}/annotations"}
    broker = Broker(reg)
    with pytest.raises(errors.ServiceHasForeignEndpointsError):
        broker.remove_serv("prod", "web", force_not_empty=True)
    with pytest.raises(errors.NamespaceHasForeignServicesError):
        broker.remove_ns("prod", force_not_empty=True)
    after = snapshot(hosts(etcd_server), reg.prefix)
    assert {k: v for k, v in after.items() if k.decode() in strays} == {
        k: v for k, v in before.items() if k.decode() in strays
    }


def test_a_parent_is_not_deleted_around_a_key_written_after_the_read(
    etcd_server: EtcdServer, reg: EtcdRegistry
) -> None:
    """The backend itself refuses: delete_serv removes only keys it read and decoded, at the
    revision it read them."""
    assert len(reg.list_endp("prod", "web")) == 2
    late = Endpoint("late", "prod", "web", "10.0.0.9", 1, {"owner": "someone"})
    put(reg, endp_key(reg, "late"), layout.encode(late))
    with pytest.raises(errors.ServiceNotEmptyError, match="late"):
        reg.delete_serv("prod", "web")
    with pytest.raises(errors.NamespaceNotEmptyError, match="late"):
        reg.delete_ns("prod")
    assert reg.get_endp("prod", "web", "late") == late
    assert len(reg.list_endp("prod", "web")) == 3
    # an endpoint changed behind our back is not ours to cascade either
    other = EtcdRegistry([etcd_server.client_url], prefix=reg.prefix)
    try:
        other.delete_endp("prod", "web", "late")
        changed = Endpoint("ours-0", "prod", "web", "10.0.0.1", 80, {"owner": "someone"})
        put(reg, endp_key(reg, "ours-0"), layout.encode(changed))
    finally:
        other.close()
    with pytest.raises(errors.ServiceNotEmptyError, match="ours-0"):
        reg.delete_serv("prod", "web")
    assert reg.get_endp("prod", "web", "ours-0") == changed


def test_the_cli_lists_unreadable_objects(etcd_server: EtcdServer, reg: EtcdRegistry) -> None:
    put(reg, endp_key(reg, "x"), b"name: x\nmetadata: {a: {b: c}}\n")
    url = f"etcd://{etcd_server.client_url}/?prefix={reg.prefix}"
    result = CliRunner().invoke(app, ["ls", url, "prod", "web", "--json"])
    assert result.exit_code == 0, result.output
    listed = {o["name"]: o for o in json.loads(result.output)}
    assert "nested metadata" in listed["x"]["unreadable"]
    assert listed["ours-0"]["unreadable"] == ""
