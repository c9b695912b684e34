"""SQLite: every write is guarded on what was read. The interleavings are forced, not hoped for:
between a Broker's read and its write, another process changes the registry, then the write
runs. The row another owner wrote is never changed (checked byte for byte, and by an audit of
every statement the Broker's registry runs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service, errors
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.registry import EndpointChanges
from tests.fixtures.sqlite import (
    AuditedRegistry,
    create_audit,
    dump,
    foreign_writes,
    owned_by,
    raw,
)

A = MetadataPair("owner", "team-a")
B = MetadataPair("owner", "team-b")


def in_another_process(path: Path, code: str) -> None:
    """Run ``code`` in a new Python process, with ``reg`` (a SqliteRegistry on ``path``), the
    owner pairs ``A``/``B`` and the model names in scope."""
    script = (
        "from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service\n"
        "from servregistry.backends.sqlite.registry import SqliteRegistry\n"
        f"A = MetadataPair('owner', 'team-a'); B = MetadataPair('owner', 'team-b')\n"
        f"reg = SqliteRegistry({str(path)!r})\n" + textwrap.dedent(code)
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def endp(name: str, address: str = "10.0.0.1", port: int = 80) -> Endpoint:
    """One of team A's endpoints, as stored (with A's owner pair)."""
    return Endpoint(name, "prod", "web", address, port, {"owner": "team-a"})


def wanted(name: str, address: str = "10.0.0.1", port: int = 80) -> Endpoint:
    """An endpoint as declared to a Broker (which adds its owner pair itself)."""
    return Endpoint(name, "prod", "web", address, port)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    audit = tmp_path / "audit.db"
    create_audit(audit)
    return audit


@pytest.fixture
def reg_a(path: Path, audit: Path) -> Any:
    """Team A's registry, audited: every write it makes to a row not A's is recorded."""
    reg = AuditedRegistry(path, audit, A)
    broker = Broker(reg, A)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    yield reg
    reg.close()


def before(reg: SqliteRegistry, method: str, meanwhile: Callable[[], None]) -> None:
    """Run ``meanwhile`` once, right before ``reg.<method>`` does its work."""
    original = getattr(reg, method)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        setattr(reg, method, original)
        meanwhile()
        return original(*args, **kwargs)

    setattr(reg, method, hooked)


REPLACE_X_BY_B = """
    reg.delete_endp('prod', 'web', 'x')             # someone removes A's x ...
    failed = Broker(reg, B).manage_serv_endps(      # ... and team B registers its own x
        'prod', 'web', [Endpoint('x', 'prod', 'web', '10.9.9.9', 9000)])
    assert 'x' not in failed, failed
"""


@pytest.mark.parametrize("a_then_wants", ["nothing", "x elsewhere"])
def test_the_broker_never_overwrites_or_deletes_an_endpoint_replaced_after_its_read(
    reg_a: SqliteRegistry, path: Path, audit: Path, a_then_wants: str
) -> None:
    """The reproduction: A reads x as its own; another process removes x and B registers its
    own x; A's reconcile then deletes (A no longer wants x) or updates (A wants x elsewhere)."""
    broker = Broker(reg_a, A)
    assert broker.manage_serv_endps("prod", "web", [wanted("x"), wanted("y")]) == {}
    snapshot: dict[str, Any] = {}

    def meanwhile() -> None:
        in_another_process(path, REPLACE_X_BY_B)
        snapshot.update(dump(path, where=owned_by("team-b")))

    before(reg_a, "apply_endpoint_changes", meanwhile)
    declared = (
        [] if a_then_wants == "nothing" else [wanted("x", "10.0.0.7"), wanted("y", "10.0.0.7")]
    )
    failures = broker.manage_serv_endps("prod", "web", declared)

    assert list(failures) == ["x"]
    assert isinstance(failures["x"], errors.ConflictError)
    assert "x" in str(failures["x"]) and "since it was read" in str(failures["x"])
    assert snapshot["endpoints"], "B's x was registered"
    assert dump(path, where=owned_by("team-b")) == snapshot  # B's x, byte for byte
    theirs = reg_a.get_endp("prod", "web", "x")
    assert (theirs.address, theirs.port, theirs.metadata) == ("10.9.9.9", 9000, {"owner": "team-b"})
    if a_then_wants == "nothing":
        with pytest.raises(errors.NotFoundError):
            reg_a.get_endp("prod", "web", "y")
    else:
        assert reg_a.get_endp("prod", "web", "y").address == "10.0.0.7"
    assert foreign_writes(audit) == []
    # the next reconcile sees B's x and reports it as foreign
    again = broker.manage_serv_endps("prod", "web", declared)
    assert list(again) == ["x"] and isinstance(again["x"], errors.EndpointNotOwnedError)
    assert dump(path, where=owned_by("team-b")) == snapshot


def test_single_calls_refuse_a_row_replaced_after_their_read(
    reg_a: SqliteRegistry, path: Path, audit: Path
) -> None:
    reg_a.create_endp(endp("x"))
    (read,) = reg_a.list_endp("prod", "web")
    in_another_process(path, REPLACE_X_BY_B)
    theirs = dump(path, where=owned_by("team-b"))
    with pytest.raises(errors.ConflictError, match="x"):
        reg_a.update_endp(read.model_copy(update={"port": 81}))
    with pytest.raises(errors.ConflictError, match="x"):
        reg_a.delete_endp("prod", "web", "x")
    assert dump(path, where=owned_by("team-b")) == theirs
    assert foreign_writes(audit) == []


def test_a_namespace_replaced_after_its_read_is_neither_updated_nor_deleted(
    path: Path, audit: Path
) -> None:
    reg = AuditedRegistry(path, audit, A)
    broker = Broker(reg, A)
    broker.manage_ns(Namespace("prod", {"v": "1"}))
    replace = """
        reg.delete_ns('prod')
        Broker(reg, B).manage_ns(Namespace('prod', {'v': 'b'}))
    """
    before(reg, "update_ns", lambda: in_another_process(path, replace))
    with pytest.raises(errors.ConflictError, match="namespace 'prod'"):
        broker.manage_ns(Namespace("prod", {"v": "2"}))
    theirs = dump(path, where=owned_by("team-b"))
    assert theirs["namespaces"]
    reg.get_ns("prod")  # read again: it is B's now
    in_another_process(path, "reg.delete_ns('prod'); Broker(reg, B).manage_ns(Namespace('prod'))")
    theirs = dump(path, where=owned_by("team-b"))
    with pytest.raises(errors.ConflictError):
        reg.delete_ns("prod")
    assert dump(path, where=owned_by("team-b")) == theirs
    assert foreign_writes(audit) == []
    reg.close()


def test_a_service_replaced_after_its_read_is_neither_updated_nor_deleted(
    reg_a: SqliteRegistry, path: Path, audit: Path
) -> None:
    broker = Broker(reg_a, A)
    replace = """
        reg.delete_serv('prod', 'web')
        Broker(reg, B).manage_serv(Service('web', 'prod', {'v': 'b'}))
    """
    before(reg_a, "update_serv", lambda: in_another_process(path, replace))
    with pytest.raises(errors.ConflictError, match="service prod/web"):
        broker.manage_serv(Service("web", "prod", {"v": "2"}))
    theirs = dump(path, where=owned_by("team-b"))
    before(reg_a, "delete_serv", lambda: in_another_process(path, replace))
    reg_a.get_serv("prod", "web")
    with pytest.raises(errors.ConflictError):
        reg_a.delete_serv("prod", "web")
    assert dump(path, where=owned_by("team-b"))["services"] != theirs["services"]  # B's newer one
    assert reg_a.get_serv("prod", "web").metadata["owner"] == "team-b"
    assert foreign_writes(audit) == []


def test_removing_a_service_never_cascades_over_an_endpoint_added_after_the_read(
    reg_a: SqliteRegistry, path: Path, audit: Path
) -> None:
    """A removes its service (force): it lists the endpoints, deletes its own, then deletes the
    service. Between the list and the service's delete, B registers an endpoint in it."""
    broker = Broker(reg_a, A)
    broker.manage_serv_endps("prod", "web", [wanted("a1")])
    add = """
        b1 = Endpoint('b1', 'prod', 'web', '10.9.9.9', 1)
        assert 'b1' not in Broker(reg, B).manage_serv_endps('prod', 'web', [b1])
    """
    before(reg_a, "delete_serv", lambda: in_another_process(path, add))
    with pytest.raises(errors.ConflictError, match="endpoint b1 is new"):
        broker.remove_serv("prod", "web", force_not_empty=True)
    assert [e.name for e in reg_a.list_endp("prod", "web")] == ["b1"]
    assert foreign_writes(audit) == []
    with pytest.raises(errors.ServiceHasForeignEndpointsError, match="b1"):
        broker.remove_serv("prod", "web", force_not_empty=True)  # now it sees b1


def test_removing_a_namespace_never_cascades_over_a_service_added_after_the_read(
    reg_a: SqliteRegistry, path: Path, audit: Path
) -> None:
    broker = Broker(reg_a, A)
    add = "Broker(reg, B).manage_serv(Service('theirs', 'prod'))"
    before(reg_a, "delete_ns", lambda: in_another_process(path, add))
    with pytest.raises(errors.ConflictError, match="service theirs is new"):
        broker.remove_ns("prod", force_not_empty=True)
    assert [s.name for s in reg_a.list_serv("prod")] == ["theirs"]
    assert foreign_writes(audit) == []


def test_a_change_by_another_program_is_a_new_revision(reg_a: SqliteRegistry, path: Path) -> None:
    """Triggers stamp rows written by any program: the sqlite3 shell, an older release."""
    reg_a.create_endp(endp("x"))
    (read,) = reg_a.list_endp("prod", "web")
    conn = raw(path)
    conn.execute("UPDATE endpoints SET port = 81 WHERE name = 'x'")  # revision not touched
    with pytest.raises(errors.ConflictError):
        reg_a.update_endp(read.model_copy(update={"address": "10.0.0.2"}))
    reg_a.list_endp("prod", "web")
    # deleted and inserted again, identical: still a change
    conn.execute("DELETE FROM endpoints WHERE name = 'x'")
    conn.execute(
        "INSERT INTO endpoints (ns_name, serv_name, name, address, port, metadata) "
        """VALUES ('prod', 'web', 'x', '10.0.0.1', 81, '{"owner": "team-a"}')"""
    )
    conn.close()
    with pytest.raises(errors.ConflictError):
        reg_a.delete_endp("prod", "web", "x")
    assert reg_a.get_endp("prod", "web", "x").port == 81


def test_a_batch_applied_in_another_thread_compares_what_the_broker_read(
    reg_a: SqliteRegistry, path: Path, audit: Path
) -> None:
    """The thread applying the batch never read it: the guard is the object the Broker passed
    (``EndpointChanges.current``), compared with the row by content."""
    Broker(reg_a, A).manage_serv_endps("prod", "web", [wanted("x"), wanted("y")])
    current = {e.name: e for e in reg_a.list_endp("prod", "web")}
    in_another_process(path, REPLACE_X_BY_B)
    result: dict[str, errors.ServiceRegistryError] = {}
    changes = EndpointChanges("prod", "web", delete=["x", "y"], current=current)
    thread = threading.Thread(target=lambda: result.update(reg_a.apply_endpoint_changes(changes)))
    thread.start()
    thread.join()
    assert list(result) == ["x"] and isinstance(result["x"], errors.ConflictError)
    assert [e.name for e in reg_a.list_endp("prod", "web")] == ["x"]
    assert foreign_writes(audit) == []


def test_our_own_writes_keep_the_guards_exact(reg_a: SqliteRegistry) -> None:
    """What this registry wrote itself is known: no re-read is needed before the next write."""
    reg_a.create_endp(endp("x"))
    reg_a.update_endp(endp("x", port=81))
    reg_a.update_endp(endp("x", port=82))
    reg_a.list_endp("prod", "web")
    reg_a.create_endp(endp("z"))  # created after the listing, by us
    reg_a.delete_serv("prod", "web")
    assert reg_a.list_serv("prod") == []


def test_threads_of_one_registry_each_guard_on_their_own_read(reg_a: SqliteRegistry) -> None:
    """Another thread's read does not stand in for this thread's: one registry object shared by
    two Brokers in two threads still refuses what changed after this thread read it."""
    reg_a.create_endp(endp("x"))
    (mine,) = reg_a.list_endp("prod", "web")

    def other_thread() -> None:
        reg_a.delete_endp("prod", "web", "x")
        reg_a.create_endp(endp("x", "10.9.9.9"))
        reg_a.list_endp("prod", "web")

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    with pytest.raises(errors.ConflictError):
        reg_a.update_endp(mine.model_copy(update={"port": 1}))
    assert reg_a.get_endp("prod", "web", "x").address == "10.9.9.9"
