"""SQLite: rows other programs stored, readable or not. A row is read as stored (an empty address
or a hostname included); a row that cannot be decoded is a foreign placeholder in listings and a
BackendError naming its table and key on a get, never a raw JSON/type error nor an
InvalidInputError. Nothing ever changes or deletes it, and its parent is not empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service, errors
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.cli import app
from tests.fixtures.sqlite import AuditedRegistry, create_audit, dump, foreign_writes, raw

A = MetadataPair("owner", "team-a")
OURS = json.dumps({"owner": "team-a"})
#: how many bad rows the suite stored, and how many of them were changed (reported by the last test)
FIGURES = {"bad rows": 0, "bad rows changed": 0}

#: (case, name, address, port, metadata) as SQL expressions, and what the placeholder says
BAD_ENDPOINTS = [
    ("metadata not JSON", "'e'", "'10.0.0.1'", "80", "'{not json'", "not valid JSON"),
    ("metadata an array", "'e'", "'10.0.0.1'", "80", "'[1, 2]'", "an array in JSON"),
    ("metadata a number", "'e'", "'10.0.0.1'", "80", "5", "a number in JSON"),
    ("metadata null", "'e'", "'10.0.0.1'", "80", "'null'", "null in JSON"),
    (
        "metadata value a number",
        "'e'",
        "'10.0.0.1'",
        "80",
        """'{"owner": "team-a", "n": 5}'""",
        "value of 'n' is a number",
    ),
    (
        "metadata nested too deep",
        "'e'",
        "'10.0.0.1'",
        "80",
        "'" + "[" * 100_000 + "'",
        "not valid JSON",
    ),
    ("metadata a blob", "'e'", "'10.0.0.1'", "80", "X'7b7d'", "metadata is a blob"),
    (
        "metadata not UTF-8",
        "'e'",
        "'10.0.0.1'",
        "80",
        "CAST(X'7b22ff227d' AS TEXT)",
        "metadata is not valid UTF-8",
    ),
    ("port text", "'e'", "'10.0.0.1'", "'eighty'", f"'{OURS}'", "port is text ('eighty')"),
    ("port real", "'e'", "'10.0.0.1'", "80.5", f"'{OURS}'", "port is a real number"),
    ("port too large", "'e'", "'10.0.0.1'", "70000", f"'{OURS}'", "port"),
    ("port negative", "'e'", "'10.0.0.1'", "-1", f"'{OURS}'", "port"),
    ("port a blob", "'e'", "'10.0.0.1'", "X'50'", f"'{OURS}'", "port is a blob"),
    ("address a blob", "'e'", "X'0a000001'", "80", f"'{OURS}'", "address is a blob"),
    (
        "address not UTF-8",
        "'e'",
        "CAST(X'ff' AS TEXT)",
        "80",
        f"'{OURS}'",
        "address is not valid UTF-8",
    ),
    ("name a blob", "X'626c6f62'", "'10.0.0.1'", "80", f"'{OURS}'", "name is a blob"),
    (
        "name not UTF-8",
        "CAST(X'62ff' AS TEXT)",
        "'10.0.0.1'",
        "80",
        f"'{OURS}'",
        "name is not valid UTF-8",
    ),
    ("name empty", "''", "'10.0.0.1'", "80", f"'{OURS}'", "name"),
]
PLACEHOLDER_NAMES = {"name a blob": "x'626c6f62'", "name not UTF-8": "x'62ff'", "name empty": "''"}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A registry where team A owns prod/web and its endpoint ``good``."""
    path = tmp_path / "registry.db"
    with SqliteRegistry(path) as reg:
        broker = Broker(reg, A)
        broker.manage_ns(Namespace("prod"))
        broker.manage_serv(Service("web", "prod"))
        broker.manage_serv_endps("prod", "web", [Endpoint("good", "prod", "web", "10.0.0.1", 80)])
    return path


def store(path: Path, sql: str) -> None:
    """Write as another program would (the sqlite3 shell, a buggy tool)."""
    conn = raw(path)
    conn.execute(sql)
    conn.close()
    FIGURES["bad rows"] += 1


@pytest.mark.parametrize(
    ("name", "address", "port", "metadata", "reason"),
    [case[1:] for case in BAD_ENDPOINTS],
    ids=[case[0] for case in BAD_ENDPOINTS],
)
def test_an_unreadable_endpoint_is_listed_reported_and_never_touched(
    path: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    name: str,
    address: str,
    port: str,
    metadata: str,
    reason: str,
) -> None:
    case = request.node.callspec.id
    store(
        path,
        "INSERT INTO endpoints (ns_name, serv_name, name, address, port, metadata) "
        f"VALUES ('prod', 'web', {name}, {address}, {port}, {metadata})",
    )
    before = dump(path)
    (bad,) = [row for row in before["endpoints"] if row[2] != b"good"]
    audit = tmp_path / "audit.db"
    create_audit(audit)
    reg = AuditedRegistry(path, audit, A)
    broker = Broker(reg, A)
    shown = PLACEHOLDER_NAMES.get(case, "e")

    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    assert set(listed) == {"good", shown}
    placeholder = listed[shown]
    assert reason in placeholder.unreadable and "table endpoints" in placeholder.unreadable
    assert not broker.owns(placeholder)

    if shown == "e":  # a get can name it
        with pytest.raises(errors.BackendError) as caught:
            reg.get_endp("prod", "web", "e")
        assert not isinstance(caught.value, errors.InvalidInputError)
        assert "endpoints" in str(caught.value) and "prod/web/e" in str(caught.value)
        assert reason in str(caught.value)

    # the Broker counts it, reports it, and reconciles everything else
    failures = broker.manage_serv_endps(
        "prod", "web", [Endpoint("new", "prod", "web", "10.0.0.2", 81)]
    )
    assert list(failures) == [shown]
    assert isinstance(failures[shown], errors.EndpointNotOwnedError)
    assert sorted(e.name for e in reg.list_endp("prod", "web")) == sorted(["new", shown])
    # its service is not empty, and it is never removed with it
    with pytest.raises(errors.ServiceNotEmptyError):
        broker.remove_serv("prod", "web")
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match=shown.replace("'", ".")):
        broker.remove_serv("prod", "web", force_not_empty=True)
    with pytest.raises(errors.OwnershipError):
        broker.remove_ns("prod", force_not_empty=True)
    # nor by the registry's own calls, whether this thread listed it or not
    fresh = SqliteRegistry(path)
    for registry in (reg, fresh):
        with pytest.raises(errors.BackendError, match="cannot be read"):
            registry.delete_serv("prod", "web")
        with pytest.raises(errors.BackendError, match="cannot be read"):
            registry.delete_ns("prod")
        if shown == "e":
            with pytest.raises(errors.BackendError, match="cannot be read"):
                registry.delete_endp("prod", "web", "e")
            with pytest.raises(errors.BackendError, match="cannot be read"):
                registry.update_endp(Endpoint("e", "prod", "web", "10.0.0.3", 1, {"owner": "a"}))
    fresh.close()
    reg.close()

    after = [row for row in dump(path)["endpoints"] if row[2] not in (b"good", b"new")]
    assert after == [bad]  # byte for byte, revision included
    assert dump(path)["services"] == before["services"]
    assert foreign_writes(audit) == []
    FIGURES["bad rows changed"] += after != [bad]


BAD_PARENTS = [
    ("metadata not JSON", "'x'", "'{not json'", "not valid JSON"),
    ("metadata a blob", "'x'", "X'7b7d'", "metadata is a blob"),
    ("metadata value a number", "'x'", """'{"owner": "team-a", "n": 5}'""", "is a number"),
    ("name a blob", "X'78'", f"'{OURS}'", "name is a blob"),
    ("name not UTF-8", "CAST(X'78ff' AS TEXT)", f"'{OURS}'", "name is not valid UTF-8"),
]


@pytest.mark.parametrize(
    ("name", "metadata", "reason"),
    [case[1:] for case in BAD_PARENTS],
    ids=[case[0] for case in BAD_PARENTS],
)
def test_an_unreadable_service_keeps_its_namespace(
    path: Path, name: str, metadata: str, reason: str
) -> None:
    store(
        path, f"INSERT INTO services (ns_name, name, metadata) VALUES ('prod', {name}, {metadata})"
    )
    before = dump(path)
    with SqliteRegistry(path) as reg:
        broker = Broker(reg, A)
        listed = [s for s in reg.list_serv("prod") if s.name != "web"]
        assert len(listed) == 1 and reason in listed[0].unreadable
        assert not broker.owns(listed[0])
        if name == "'x'":
            with pytest.raises(errors.BackendError, match="table services, key prod/x"):
                reg.get_serv("prod", "x")
            with pytest.raises(errors.BackendError, match="services"):
                broker.manage_serv(Service("x", "prod", {"k": "v"}))
        with pytest.raises(errors.NamespaceNotEmptyError):
            broker.remove_ns("prod")
        with pytest.raises(errors.NamespaceHasForeignServicesError):
            broker.remove_ns("prod", force_not_empty=True)
        with pytest.raises(errors.BackendError, match="cannot be read"):
            reg.delete_ns("prod")
    after = dump(path)
    assert [r for r in after["services"] if r[1] != b"web"] == [
        r for r in before["services"] if r[1] != b"web"
    ]
    assert after["namespaces"] == before["namespaces"]


@pytest.mark.parametrize(
    ("name", "metadata", "reason"),
    [case[1:] for case in BAD_PARENTS],
    ids=[case[0] for case in BAD_PARENTS],
)
def test_an_unreadable_namespace_is_listed_and_never_touched(
    path: Path, name: str, metadata: str, reason: str
) -> None:
    store(path, f"INSERT INTO namespaces (name, metadata) VALUES ({name}, {metadata})")
    before = dump(path)
    with SqliteRegistry(path) as reg:
        broker = Broker(reg, A)
        (listed,) = [n for n in reg.list_ns() if n.name != "prod"]
        assert reason in listed.unreadable and "table namespaces" in listed.unreadable
        if name == "'x'":
            with pytest.raises(errors.BackendError, match="table namespaces, key x"):
                reg.get_ns("x")
            with pytest.raises(errors.BackendError, match="namespaces"):
                broker.manage_ns(Namespace("x"))
            with pytest.raises(errors.BackendError, match="namespaces"):
                broker.remove_ns("x", force_not_empty=True)
            with pytest.raises(errors.BackendError, match="cannot be read"):
                reg.delete_ns("x")
            with pytest.raises(errors.BackendError, match="cannot be read"):
                reg.update_ns(Namespace("x", {"owner": "team-a"}))
    assert dump(path) == before


def test_the_command_shows_unreadable_rows(path: Path) -> None:
    store(
        path,
        "INSERT INTO endpoints (ns_name, serv_name, name, address, port, metadata) "
        "VALUES ('prod', 'web', 'broken', '10.0.0.9', 80, '{oops')",
    )
    before = dump(path)
    for args in (["tree"], ["ls"], ["ls", "--json"]):
        extra = ["prod", "web"] if args[0] == "ls" else []
        result = CliRunner().invoke(app, [args[0], f"sqlite:///{path}", *extra, *args[1:]])
        assert result.exit_code == 0, result.output
        assert "broken" in result.output
    assert dump(path) == before


# rows others wrote that can be read: represented as stored -----------------------------------


def test_empty_and_hostname_addresses_are_read_and_reconciled_like_any_other(
    path: Path, tmp_path: Path
) -> None:
    """Other writers store hostnames and empty addresses. Ours are reconciled (updated or
    deleted); theirs are reported and left exactly as they are."""
    conn = raw(path)
    for name, address, owner in (
        ("our-host", "db.internal", "team-a"),
        ("our-empty", "", "team-a"),
        ("their-host", "db.internal", "team-b"),
        ("their-empty", "", "team-b"),
    ):
        conn.execute(
            "INSERT INTO endpoints (ns_name, serv_name, name, address, port, metadata) "
            "VALUES ('prod', 'web', ?, ?, 5432, ?)",
            (name, address, json.dumps({"owner": owner})),
        )
    conn.close()
    theirs = [r for r in dump(path)["endpoints"] if r[2].startswith(b"their")]
    audit = tmp_path / "audit.db"
    create_audit(audit)
    with AuditedRegistry(path, audit, A) as reg:
        listed = {e.name: e for e in reg.list_endp("prod", "web")}
        assert listed["our-host"].address == listed["their-host"].address == "db.internal"
        assert listed["our-empty"].address == listed["their-empty"].address == ""
        assert not any(e.unreadable for e in listed.values())
        assert reg.get_endp("prod", "web", "their-empty").address == ""
        failures = Broker(reg, A).manage_serv_endps(
            "prod", "web", [Endpoint("our-empty", "prod", "web", "10.0.0.5", 5432)]
        )
        assert sorted(failures) == ["their-empty", "their-host"]
        assert all(isinstance(f, errors.EndpointNotOwnedError) for f in failures.values())
        assert reg.get_endp("prod", "web", "our-empty").address == "10.0.0.5"
        with pytest.raises(errors.NotFoundError):
            reg.get_endp("prod", "web", "our-host")
    assert [r for r in dump(path)["endpoints"] if r[2].startswith(b"their")] == theirs
    assert foreign_writes(audit) == []


def test_corruption_figures() -> None:
    """Runs last in this file: the figures the README quotes."""
    print(
        f"\nSQLite corruption suite: {FIGURES['bad rows']} bad rows stored, "
        f"{FIGURES['bad rows changed']} changed or deleted"
    )
    assert FIGURES["bad rows changed"] == 0
