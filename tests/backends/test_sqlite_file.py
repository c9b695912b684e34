"""SQLite: which files the registry opens. A file that is not a registry (or a layout this
release does not know) is refused before anything is written to it; a file of the first layout
is upgraded in place; read-only use never creates, upgrades or writes a file; no error message
repeats URL credentials."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from servregistry import Broker, Endpoint, Namespace, errors, open_registry
from servregistry.backends.sqlite.registry import LAYOUTS, SCHEMA_VERSION, SqliteRegistry
from servregistry.cli import app
from tests.fixtures.sqlite import LAYOUT_1, dump, file_state, raw, write_layout_1

runner = CliRunner()


def not_a_registry(path: Path, kind: str) -> None:
    """Files that are not registries (each one as some other program left it)."""
    if kind == "a text file":
        path.write_text("name,address\nweb,10.0.0.1\n")
        return
    conn = raw(path)
    if kind == "another program's database":
        conn.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);")
    elif kind == "a registry with another table":
        conn.executescript(LAYOUT_1 + "CREATE TABLE notes (text TEXT);")
    elif kind == "a newer layout":
        conn.executescript(LAYOUT_1 + "UPDATE schema_version SET version = 99;")
    elif kind == "a layout with a missing column":
        conn.executescript(LAYOUT_1.replace("    port INTEGER NOT NULL,\n", ""))
    elif kind == "two schema versions":
        conn.executescript(LAYOUT_1 + "INSERT INTO schema_version VALUES (1);")
    elif kind == "a version that is text":
        conn.executescript(LAYOUT_1 + "UPDATE schema_version SET version = 'one';")
    elif kind == "a table missing":
        conn.executescript(LAYOUT_1 + "DROP TABLE endpoints;")
    conn.close()


BAD_FILES = {
    "a text file": "is not a SQLite database",
    "another program's database": "other tables (users)",
    "a registry with another table": "tables a registry does not have (notes)",
    "a newer layout": "schema_version is 99",
    "a layout with a missing column": "table endpoints has columns",
    "two schema versions": "'2 rows'",
    "a version that is text": "schema_version is 'one'",
    "a table missing": "no table endpoints",
}


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_file_that_is_not_a_registry_is_refused_and_left_as_it_was(
    tmp_path: Path, kind: str, read_only: bool
) -> None:
    path = tmp_path / "file.db"
    not_a_registry(path, kind)
    state = file_state(path)
    reg = SqliteRegistry(path, read_only=read_only)
    for call in (reg.list_ns, lambda: reg.create_ns(Namespace("prod"))):
        with pytest.raises(errors.BackendError) as caught:
            call()
        message = str(caught.value)
        assert str(path) in message and BAD_FILES[kind] in message
        assert "Nothing was written" in message
    reg.close()
    assert file_state(path) == state  # same bytes, no journal or WAL file beside it


def test_a_new_or_empty_file_becomes_a_registry(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (empty, tmp_path / "sub" / "new.db"):
        with SqliteRegistry(path) as reg:
            reg.create_ns(Namespace("prod"))
        conn = raw(path)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conn.close()


def test_a_first_layout_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write_layout_1(path)
    old = dump(path)
    with SqliteRegistry(path) as reg:
        broker = Broker(reg)
        assert {e.name for e in reg.list_endp("prod", "web")} == {"ours", "theirs"}
        failures = broker.manage_serv_endps(
            "prod", "web", [Endpoint("ours", "prod", "web", "10.0.0.3", 80)]
        )
        assert list(failures) == ["theirs"]
    conn = raw(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    columns = {r[1] for r in conn.execute("PRAGMA table_info(endpoints)")}
    assert columns == set(LAYOUTS[2]["endpoints"])
    conn.close()
    new = dump(path)
    (theirs_before,) = [r for r in old["endpoints"] if r[2] == b"theirs"]
    (theirs_after,) = [r for r in new["endpoints"] if r[2] == b"theirs"]
    # the same stored values, with revision 1 (and the name's type) appended
    assert theirs_after[:6] == theirs_before[:6] and theirs_after[6] == 1
    assert new["namespaces"][0][:2] == old["namespaces"][0][:2]


def test_opening_an_old_file_while_another_process_writes_it_waits(tmp_path: Path) -> None:
    """An opener that must switch the file to WAL mode while another connection holds its write
    lock waits for it (SQLite refuses that switch at once instead of waiting); it used to fail
    at once with "database is locked", about once in 100 races of openers."""
    path = tmp_path / "old.db"
    write_layout_1(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        reg = SqliteRegistry(path, timeout=10)
        assert {e.name for e in reg.list_endp("prod", "web")} == {"ours", "theirs"}
        reg.close()
    finally:
        release.join()
        other.close()
    conn = raw(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    conn.close()


def test_several_processes_opening_an_old_file_at_once_upgrade_it_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write_layout_1(path)
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def open_it() -> None:
        reg = SqliteRegistry(path)
        start.wait()
        try:
            assert {e.name for e in reg.list_endp("prod", "web")} == {"ours", "theirs"}
        except BaseException as exc:
            failures.append(exc)
        finally:
            reg.close()

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    conn = raw(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    triggers = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()
    assert triggers == (6,)
    conn.close()


def test_reading_never_creates_a_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "registry.db"
    reg = SqliteRegistry(missing, read_only=True)
    with pytest.raises(errors.RegistryUnavailableError, match="does not exist"):
        reg.list_ns()
    url = f"sqlite:///{missing}"
    for args in (["ls", url], ["tree", url], ["get", url, "prod"], ["ls", url, "prod", "web"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "does not exist" in result.output
    assert not missing.parent.exists()


def test_reading_an_old_or_empty_file_writes_nothing(tmp_path: Path) -> None:
    old, empty = tmp_path / "old.db", tmp_path / "empty.db"
    write_layout_1(old)
    empty.touch()
    states = {p: file_state(p) for p in (old, empty)}
    with SqliteRegistry(old, read_only=True) as reg:
        assert {e.name for e in reg.list_endp("prod", "web")} == {"ours", "theirs"}
        assert reg.get_ns("prod").metadata == {"owner": "cnwan-operator"}
        with pytest.raises(errors.BackendError, match="read-only"):
            reg.create_ns(Namespace("staging"))
    with SqliteRegistry(empty, read_only=True) as reg:
        assert reg.list_ns() == []
        with pytest.raises(errors.NotFoundError):
            reg.get_ns("prod")
    result = runner.invoke(app, ["tree", f"sqlite:///{old}"])
    assert result.exit_code == 0 and "theirs" in result.output
    assert {p: file_state(p) for p in (old, empty)} == states


def test_the_command_reads_a_registry_another_process_is_writing(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with SqliteRegistry(path) as writer:
        Broker(writer).manage_ns(Namespace("prod"))
        result = runner.invoke(app, ["ls", f"sqlite:///{path}", "--json"])
        assert result.exit_code == 0 and '"prod"' in result.output
        Broker(writer).manage_ns(Namespace("staging"))  # the reader held no lock
    assert {n.name for n in SqliteRegistry(path, read_only=True).list_ns()} == {"prod", "staging"}


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://admin:hunter2@db.example.com/registry.db",
        "sqlite://admin:hunter2@/registry.db",
        "sqlite://:hunter2@localhost",
        "sqlite://hunter2@",
    ],
)
def test_no_error_repeats_url_credentials(url: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        open_registry(url)
    assert "hunter2" not in str(caught.value) and "admin" not in str(caught.value)
    assert "credentials" in str(caught.value)
    result = runner.invoke(app, ["ls", url])
    assert result.exit_code == 1 and "hunter2" not in result.output


def test_a_locked_file_is_a_timeout_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    SqliteRegistry(path).list_ns()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(errors.RegistryTimeoutError, match=str(path)):
            SqliteRegistry(path, timeout=0.2).create_ns(Namespace("prod"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    SqliteRegistry(path).create_ns(Namespace("prod"))
