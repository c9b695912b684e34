"""The embedded registry: one SQLite file (stdlib ``sqlite3``), the default for local use.

The file uses WAL, foreign keys with ``ON DELETE CASCADE`` and a busy timeout. Each thread gets
its own connection, and every write is one ``BEGIN IMMEDIATE`` transaction, so a Pulumi provider
process calling from several threads and several processes sharing the file are both safe. A
lock the registry cannot get within the busy timeout raises ``RegistryTimeoutError``.

**Revisions.** Every row carries a ``revision``: the value of one registry-wide counter when the
row was last written (a new row never reuses an old row's revision, so "deleted and created again"
is a change too). Triggers stamp rows written by any other program (an older release, the
``sqlite3`` shell) that leaves the revision alone, so such a write is a change too.

**Guarded writes.** Each thread remembers what it read: each row's revision and decoded object,
and, for each namespace or service whose children it listed, those children and their revisions.
An update or delete then checks, inside its write transaction, that the row is still as that
thread read it, and fails with ``ConflictError`` (writing nothing) if not; deleting a namespace
or service also checks that its children are still the ones read. The endpoint-set batch guards
each endpoint on the object the Broker read (``EndpointChanges.current``): its revision when this
thread decoded that very object, else its content. A row the thread never read is guarded on
existing and being readable only, as in the seed.

**Faithful reads.** A row is returned as stored (an empty address or a hostname included). A row
that cannot be decoded at all is, in a listing, an ``unreadable`` placeholder (foreign by
construction: counted, reported, never changed or deleted); a ``get_*`` of it raises
``BackendError`` naming the table and key. Nothing ever changes or cascades over such a row.

**The file.** A new or empty file becomes a registry; a file of an older layout is upgraded in
place, in one transaction; a file holding other tables, or a layout this release does not know,
is refused before anything is written. ``read_only=True`` opens without creating, upgrading or
writing anything (the ``servregistry`` command's ``ls``/``tree``/``get`` use it).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from servregistry import errors
from servregistry.backends.base import BaseRegistry, check_name, writes_not_in_listing
from servregistry.model import (
    Endpoint,
    Namespace,
    RegistryObject,
    Service,
    shared_metadata,
    unstorable,
)
from servregistry.registry import EndpointChanges
from servregistry.urls import SqliteUrl

__all__ = ["SCHEMA_VERSION", "SqliteRegistry"]

log = logging.getLogger(__name__)

#: the layout this release writes; older ones are upgraded in place when opened for writing
SCHEMA_VERSION = 2

#: each known layout: table → columns
LAYOUTS: dict[int, dict[str, tuple[str, ...]]] = {
    1: {
        "schema_version": ("version",),
        "namespaces": ("name", "metadata"),
        "services": ("ns_name", "name", "metadata"),
        "endpoints": ("ns_name", "serv_name", "name", "address", "port", "metadata"),
    },
    2: {
        "schema_version": ("version",),
        "registry_revision": ("value",),
        "namespaces": ("name", "metadata", "revision"),
        "services": ("ns_name", "name", "metadata", "revision"),
        "endpoints": ("ns_name", "serv_name", "name", "address", "port", "metadata", "revision"),
    },
}

_TABLES = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE registry_revision (value INTEGER NOT NULL);
CREATE TABLE namespaces (
    name TEXT PRIMARY KEY,
    metadata TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE services (
    ns_name TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ns_name, name)
);
CREATE TABLE endpoints (
    ns_name TEXT NOT NULL,
    serv_name TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ns_name, serv_name, name),
    FOREIGN KEY (ns_name, serv_name) REFERENCES services(ns_name, name) ON DELETE CASCADE
);
INSERT INTO registry_revision VALUES (0);
"""

#: version 1 → 2: a revision on every row (existing rows get revision 1) and the counter
_UPGRADE_FROM_1 = """
ALTER TABLE namespaces ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE TABLE registry_revision (value INTEGER NOT NULL);
INSERT INTO registry_revision VALUES (1);
UPDATE namespaces SET revision = 1;
UPDATE services SET revision = 1;
UPDATE endpoints SET revision = 1;
"""

#: A write that did not stamp the counter's current value (any program but this module), or an
#: update that left the revision as it was, gets a fresh revision.
_STAMP = """
CREATE TRIGGER {table}_revision_on_insert AFTER INSERT ON {table}
WHEN NEW.revision IS NOT (SELECT value FROM registry_revision)
BEGIN
    UPDATE registry_revision SET value = value + 1;
    UPDATE {table} SET revision = (SELECT value FROM registry_revision) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER {table}_revision_on_update AFTER UPDATE ON {table}
WHEN NEW.revision IS OLD.revision OR NEW.revision IS NOT (SELECT value FROM registry_revision)
BEGIN
    UPDATE registry_revision SET value = value + 1;
    UPDATE {table} SET revision = (SELECT value FROM registry_revision) WHERE rowid = NEW.rowid;
END;
"""
_TRIGGERS = "".join(_STAMP.format(table=t) for t in ("namespaces", "services", "endpoints"))

#: rows each thread remembers having read (the oldest are forgotten first)
_SEEN_ROWS = 200_000

_T = TypeVar("_T")
_Obj = TypeVar("_Obj", Namespace, Service, Endpoint)
#: a row's key: (ns,) for a namespace, (ns, serv) for a service, (ns, serv, endp) for an endpoint
_Key = tuple[str, ...]
#: a stored name as it came out of the database: its Python type's name and its value
_RawName = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class _Kind:
    """One table: its key columns (the object's own name last), value columns and model."""

    table: str
    label: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    model: type[Namespace] | type[Service] | type[Endpoint]

    def columns(self, revision: str) -> str:
        return ", ".join((*self.keys, *self.values, revision))

    def where(self, depth: int | None = None) -> str:
        """The condition on the first ``depth`` key columns (all of them by default)."""
        keys = self.keys if depth is None else self.keys[:depth]
        return " AND ".join(f"{k} = ?" for k in keys) or "1"

    def describe(self, key: _Key) -> str:
        if len(key) == 1:
            return f"{self.label} {key[0]!r}"
        return f"{self.label} {'/'.join(key)}"


_NS = _Kind("namespaces", "namespace", ("name",), ("metadata",), Namespace)
_SERV = _Kind("services", "service", ("ns_name", "name"), ("metadata",), Service)
_ENDP = _Kind(
    "endpoints",
    "endpoint",
    ("ns_name", "serv_name", "name"),
    ("address", "port", "metadata"),
    Endpoint,
)
_CHILD = {"namespaces": _SERV, "services": _ENDP}
_BY_DEPTH = {1: _NS, 2: _SERV, 3: _ENDP}


def _key_of(obj: RegistryObject) -> _Key:
    if isinstance(obj, Endpoint):
        return (obj.ns_name, obj.serv_name, obj.name)
    if isinstance(obj, Service):
        return (obj.ns_name, obj.name)
    return (obj.name,)


class _Seen:
    """What one thread read: each row's revision and decoded object, and for each namespace or
    service whose children it listed, each child's stored name and revision."""

    __slots__ = ("children", "rows")

    def __init__(self) -> None:
        self.rows: dict[_Key, tuple[Any, RegistryObject]] = {}
        self.children: dict[_Key, dict[_RawName, Any]] = {}

    def row(self, key: _Key, revision: Any, obj: RegistryObject) -> None:
        self.rows.pop(key, None)
        self.rows[key] = (revision, obj)
        if len(self.rows) > _SEEN_ROWS:
            del self.rows[next(iter(self.rows))]

    def wrote(self, key: _Key, revision: Any, obj: RegistryObject | None) -> None:
        """After our own committed write: the row is as we wrote it (or gone)."""
        listed = self.children.get(key[:-1])
        if obj is None:
            self.rows.pop(key, None)
            if listed is not None:
                listed.pop(("str", key[-1]), None)
            if len(key) < 3:
                self.forget_under(key)
            return
        self.row(key, revision, obj)
        if listed is not None:
            listed[("str", key[-1])] = revision

    def forget(self, key: _Key) -> None:
        self.rows.pop(key, None)

    def forget_under(self, key: _Key) -> None:
        """Forget ``key`` and everything below it (after deleting it)."""
        n = len(key)
        for k in [k for k in self.rows if k[:n] == key]:
            del self.rows[k]
        for k in [k for k in self.children if k[:n] == key]:
            del self.children[k]


@dataclass(frozen=True, slots=True)
class _Expected:
    """What a guarded write expects to find: the revision read, else the object read (compared
    by content), else only that the row exists."""

    revision: Any = None
    obj: RegistryObject | None = None


@dataclass(slots=True)
class _Txn:
    """One write transaction: its cursor, the revision its rows get, what the thread will
    remember once it commits, and each metadata map it encoded (by identity: an endpoint set's
    endpoints share a few maps; the map is kept, so that its identity is not reused)."""

    cur: sqlite3.Cursor
    revision: int
    wrote: list[tuple[_Key, Any, RegistryObject | None]] = field(default_factory=list)
    encoded: dict[int, tuple[Mapping[str, str], str]] = field(default_factory=dict)

    def values(self, obj: RegistryObject) -> tuple[Any, ...]:
        """``obj``'s value columns, as stored."""
        found = self.encoded.get(id(obj.metadata))
        if found is None:
            found = self.encoded[id(obj.metadata)] = (obj.metadata, _metadata_text(obj.metadata))
        if isinstance(obj, Endpoint):
            return (obj.address, obj.port, found[1])
        return (found[1],)


class _Unreadable(Exception):
    """A stored row that cannot be decoded; the message says why."""


class _BadText(bytes):
    """A TEXT value that is not valid UTF-8."""


def _lenient_text(raw: bytes) -> str | _BadText:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _BadText(raw)


class SqliteRegistry(BaseRegistry):
    """A registry in one SQLite file. ``SqliteRegistry("/abs/registry.db", timeout=30.0)``.

    With ``read_only=True`` the file must exist and is never written (nor created, upgraded or
    switched to WAL); writes raise ``BackendError``.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0, read_only: bool = False) -> None:
        self.path = str(path)
        self.timeout = float(timeout)
        self.read_only = bool(read_only)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._prepare_lock = threading.Lock()
        self._ready = False
        #: the revision column, or "0" for a version 1 file read without upgrading it
        self._revision_column = "revision"
        #: a read-only registry on a file that holds no registry yet: every listing is empty
        self._empty = False

    @classmethod
    def from_url(cls, url: str, *, read_only: bool = False) -> SqliteRegistry:
        """``sqlite:///abs/path.db``, ``?timeout=SECONDS`` (30 by default); see
        :class:`servregistry.urls.SqliteUrl`."""
        parsed = SqliteUrl.parse(url)
        timeout = 30.0 if parsed.timeout is None else parsed.timeout
        return cls(parsed.path, timeout=timeout, read_only=read_only)

    def __repr__(self) -> str:
        return f"SqliteRegistry({self.path!r})"

    # the file ---------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = self._connect()
        try:
            with self._prepare_lock:
                if not self._ready:
                    self._prepare(conn)
                    self._ready = True
        except BaseException:
            conn.close()
            raise
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        memory = self.path == ":memory:"
        if self.read_only and not memory and not os.path.isfile(self.path):
            raise errors.RegistryUnavailableError(
                f"no SQLite registry at {self.path}: the file does not exist "
                "(opened read-only, so it is not created)"
            )
        if not memory and not self.read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        target = self.path
        if self.read_only and not memory:  # a URI, so that SQLite itself refuses to write
            # one leading slash: "//x" would make "x" the URI's authority
            absolute = "/" + os.path.abspath(self.path).lstrip("/")
            target = f"file://{quote(absolute)}?mode=ro"
        try:
            conn = sqlite3.connect(
                target,
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=target.startswith("file:"),
            )
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise self._mapped(exc) from exc
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the file holds a registry (or nothing), then create or upgrade it in one
        transaction. Nothing is written to a file that is refused."""
        try:
            conn.execute("BEGIN")  # one snapshot: another process may be upgrading the file
            try:
                version = self._layout(conn)
            finally:
                _rollback(conn)
            if self.read_only:
                self._empty = version is None
                self._revision_column = "revision" if version != 1 else "0"
                return
            if version == SCHEMA_VERSION:
                return
            if self.path != ":memory:":
                self._use_wal(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = self._layout(conn)  # another process may have been first
                if version is None:
                    self._run(conn, _TABLES + _TRIGGERS)
                    conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                elif version == 1:
                    self._run(conn, _UPGRADE_FROM_1 + _TRIGGERS)
                    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                    log.info("SQLite registry %s upgraded to layout %d", self.path, SCHEMA_VERSION)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        except sqlite3.Error as exc:
            raise self._mapped(exc) from exc

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Put the file in WAL mode, unless it is already.

        Switching needs the file to itself. While another opener is switching it or writing,
        SQLite refuses at once ("database is locked") instead of waiting, since waiting could
        deadlock. So the switch is tried again, reading the mode each time (the other opener
        may have switched it), until this registry's timeout.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                if self._pragma(conn, "journal_mode") != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    @staticmethod
    def _run(conn: sqlite3.Connection, script: str) -> None:
        """Run each statement of ``script`` inside the open transaction (``executescript``
        would commit it)."""
        statement = ""
        for line in script.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                conn.execute(statement)
                statement = ""

    @staticmethod
    def _pragma(conn: sqlite3.Connection, name: str) -> Any:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]

    def _layout(self, conn: sqlite3.Connection) -> int | None:
        """The file's layout version, None for a file with no tables; raises BackendError for
        a file that is not a registry this release can use."""
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%'"
                " ESCAPE '!'"
            )
        }
        if not tables:
            return None
        if "schema_version" not in tables:
            raise self._refused(
                f"it holds other tables ({_listed(tables)}), not a registry; point the URL at a "
                "new file or an existing registry"
            )
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version")]
        if len(versions) != 1 or type(versions[0]) is not int or versions[0] not in LAYOUTS:
            known = ", ".join(str(v) for v in LAYOUTS)
            found = versions[0] if len(versions) == 1 else f"{len(versions)} rows"
            raise self._refused(
                f"its schema_version is {found!r}, and this release knows layouts {known} "
                "(a newer release of pulumi-servregistry may have written it: upgrade)"
            )
        layout = LAYOUTS[versions[0]]
        if tables != set(layout):
            extra, missing = tables - set(layout), set(layout) - tables
            what = []
            if extra:
                what.append(f"tables a registry does not have ({_listed(extra)})")
            if missing:
                what.append(f"no table {_listed(missing)}")
            raise self._refused(f"it holds {' and '.join(what)}")
        for table, columns in layout.items():
            found_columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if found_columns != set(columns):
                raise self._refused(
                    f"table {table} has columns {_listed(found_columns)}, "
                    f"expected {', '.join(columns)}"
                )
        return versions[0]

    def _refused(self, why: str) -> errors.BackendError:
        return errors.BackendError(
            f"{self.path} is not a servregistry SQLite registry this release can use: {why}. "
            "Nothing was written to it."
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        conn = self._conn()
        if self.read_only:
            raise errors.BackendError(
                f"the SQLite registry {self.path} was opened read-only; nothing was written"
            )
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.cursor()
        try:
            yield cur
        except BaseException:
            _rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            _rollback(conn)
            raise

    def _write(self, action: Callable[[_Txn], _T]) -> _T:
        """Run ``action`` in one write transaction; once committed, remember what it wrote."""
        try:
            with self._transaction() as cur:
                cur.execute("UPDATE registry_revision SET value = value + 1")
                (revision,) = cur.execute("SELECT value FROM registry_revision").fetchone()
                txn = _Txn(cur, revision)
                result = action(txn)
        except sqlite3.Error as exc:
            raise self._mapped(exc) from exc
        seen = self._seen()
        for key, rev, obj in txn.wrote:
            seen.wrote(key, rev, obj)
        return result

    def _seen(self) -> _Seen:
        seen: _Seen | None = getattr(self._local, "seen", None)
        if seen is None:
            seen = self._local.seen = _Seen()
        return seen

    def close(self) -> None:
        """Close every connection this registry opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def validate(self, obj: RegistryObject) -> None:
        check_name(obj)

    # reads ------------------------------------------------------------------------------------

    def _select(self, kind: _Kind, key: _Key) -> list[tuple[Any, ...]]:
        """Rows of ``kind`` under ``key`` (a parent's key lists its children; a full key gets
        one row), in name order; text that is not UTF-8 comes back as ``_BadText``."""
        conn = self._conn()  # first: opening the file tells which layout it has
        if self._empty:
            return []
        sql = (
            f"SELECT {kind.columns(self._revision_column)} FROM {kind.table}"
            f" WHERE {kind.where(len(key))} ORDER BY name"
        )
        try:
            try:
                return conn.execute(sql, key).fetchall()
            except sqlite3.OperationalError as exc:
                if "UTF-8" not in str(exc):
                    raise
            with _lenient(conn):  # a stored text is not UTF-8: read again, keeping it apart
                return conn.execute(sql, key).fetchall()
        except sqlite3.Error as exc:
            raise self._mapped(exc) from exc

    def _get(self, kind: _Kind, key: _Key) -> Any:
        rows = self._select(kind, key)
        seen = self._seen()
        if not rows:
            seen.forget(key)
            raise errors.NotFoundError(f"{kind.describe(key)} not found")
        row = rows[0]
        try:
            obj = _decode(kind, row)
        except _Unreadable as exc:
            seen.forget(key)
            raise errors.BackendError(
                f"the SQLite registry {self.path} holds a {kind.label} it cannot read "
                f"(table {kind.table}, key {_key_text(row[: len(kind.keys)])}): {exc}. "
                "Nothing was changed; repair or remove that row."
            ) from exc
        seen.row(key, row[-1], obj)
        return obj

    def _list(self, kind: _Kind, parent: _Key) -> list[Any]:
        rows = self._select(kind, parent)
        seen = self._seen()
        found: list[Any] = []
        children: dict[_RawName, Any] = {}
        for row in rows:
            raw_name = row[len(kind.keys) - 1]
            children[_raw(raw_name)] = row[-1]
            try:
                obj = _decode(kind, row)
            except _Unreadable as exc:
                obj = _placeholder(kind, row, str(exc))
                log.warning(
                    "SQLite registry %s: %s row %s cannot be read (%s); it is listed as "
                    "foreign and left alone",
                    self.path,
                    kind.table,
                    _key_text(row[: len(kind.keys)]),
                    exc,
                )
            else:
                seen.row(_key_of(obj), row[-1], obj)
            found.append(obj)
        seen.children.pop(parent, None)
        seen.children[parent] = children
        return found

    def get_ns(self, name: str) -> Namespace:
        _need(name, errors.NamespaceNameNotProvidedError)
        ns: Namespace = self._get(_NS, (name,))
        return ns

    def list_ns(self) -> list[Namespace]:
        return self._list(_NS, ())

    def get_serv(self, ns_name: str, serv_name: str) -> Service:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        serv: Service = self._get(_SERV, (ns_name, serv_name))
        return serv

    def list_serv(self, ns_name: str) -> list[Service]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        return self._list(_SERV, (ns_name,))

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        endp: Endpoint = self._get(_ENDP, (ns_name, serv_name, endp_name))
        return endp

    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        return self._list(_ENDP, (ns_name, serv_name))

    # guarded writes ---------------------------------------------------------------------------

    def _expected(self, key: _Key, read: RegistryObject | None = None) -> _Expected:
        """What this thread read of ``key``; ``read`` is the object a caller says it read (its
        revision is used when it is the very object this thread decoded)."""
        remembered = self._seen().rows.get(key)
        if read is None:
            return _Expected(remembered[0]) if remembered else _Expected()
        if remembered is not None and remembered[1] is read:
            return _Expected(remembered[0], read)
        return _Expected(obj=read)

    def _guard(self, txn: _Txn, kind: _Kind, key: _Key, expected: _Expected) -> None:
        """Inside the write transaction: the row exists, can be read, and is as read."""
        label = kind.describe(key)
        if expected.revision is not None:  # the revision tells: no need to read the row
            row = txn.cur.execute(
                f"SELECT revision FROM {kind.table} WHERE {kind.where()}", key
            ).fetchone()
        else:
            with _lenient(txn.cur.connection):
                row = txn.cur.execute(
                    f"SELECT {kind.columns('revision')} FROM {kind.table} WHERE {kind.where()}",
                    key,
                ).fetchone()
        if row is None:
            raise errors.NotFoundError(f"{label} not found")
        revision = row[-1]
        if expected.revision is not None:
            if revision != expected.revision:
                raise errors.ConflictError(
                    f"{label} changed in the SQLite registry since it was read (revision "
                    f"{expected.revision} → {revision}); nothing was written, read it again "
                    "and retry"
                )
            return  # as read, and only rows that could be decoded are remembered
        try:
            stored = _decode(kind, row)
        except _Unreadable as exc:
            raise errors.BackendError(
                f"{label} cannot be read ({exc}); it is never changed or deleted: repair or "
                "remove that row"
            ) from exc
        if expected.obj is not None and stored != expected.obj:
            raise errors.ConflictError(
                f"{label} changed in the SQLite registry since it was read (it is now "
                f"{_summary(stored)}); nothing was written, read it again and retry"
            )

    def _guard_children(self, txn: _Txn, kind: _Kind, key: _Key) -> None:
        """Before deleting ``key`` (and so its children): every child present must be one
        this thread listed, unchanged since, and readable."""
        child = _CHILD.get(kind.table)
        if child is None:
            return
        listed = self._seen().children.get(key)
        with _lenient(txn.cur.connection):
            rows = txn.cur.execute(
                f"SELECT {child.columns('revision')} FROM {child.table}"
                f" WHERE {child.where(len(key))}",
                key,
            ).fetchall()
        for row in rows:
            name = row[len(child.keys) - 1]
            if listed is not None and listed.get(_raw(name), _MISSING) != row[-1]:
                raise errors.ConflictError(
                    f"{kind.describe(key)} changed since its {child.label}s were read: "
                    f"{child.label} {_key_text((name,))} is new or was changed by another "
                    "writer; nothing was deleted, read it again and retry"
                )
            try:
                _decode(child, row)
            except _Unreadable as exc:
                raise errors.BackendError(
                    f"{kind.describe(key)} holds a {child.label} that cannot be read (table "
                    f"{child.table}, key {_key_text(row[: len(child.keys)])}: {exc}); "
                    "nothing was deleted"
                ) from exc
            if isinstance(name, str):
                self._guard_children(txn, child, (*key, name))

    def _parents(self, txn: _Txn, key: _Key) -> None:
        for depth in range(1, len(key)):
            parent = _BY_DEPTH[depth]
            if not txn.cur.execute(
                f"SELECT 1 FROM {parent.table} WHERE {parent.where()}", key[:depth]
            ).fetchone():
                raise errors.ParentNotFoundError(
                    f"{parent.label} with name {key[depth - 1]} does not exist"
                )

    def _insert(self, txn: _Txn, obj: RegistryObject, parents_checked: bool = False) -> Any:
        """Insert ``obj``; its parents must exist (unless the caller checked them in ``txn``)."""
        kind, key = _BY_DEPTH[len(_key_of(obj))], _key_of(obj)
        if not parents_checked:
            self._parents(txn, key)
        if txn.cur.execute(f"SELECT 1 FROM {kind.table} WHERE {kind.where()}", key).fetchone():
            raise errors.AlreadyExistsError(f"{kind.describe(key)} already exists")
        row = (*key, *txn.values(obj), txn.revision)
        txn.cur.execute(
            f"INSERT INTO {kind.table} ({kind.columns('revision')})"
            f" VALUES ({', '.join('?' * len(row))})",
            row,
        )
        txn.wrote.append((key, txn.revision, obj))
        return obj

    def _update(self, txn: _Txn, obj: RegistryObject, expected: _Expected) -> Any:
        kind, key = _BY_DEPTH[len(_key_of(obj))], _key_of(obj)
        self._guard(txn, kind, key, expected)
        assignments = ", ".join(f"{c} = ?" for c in (*kind.values, "revision"))
        txn.cur.execute(
            f"UPDATE {kind.table} SET {assignments} WHERE {kind.where()}",
            (*txn.values(obj), txn.revision, *key),
        )
        txn.wrote.append((key, txn.revision, obj))
        return obj

    def _delete(self, txn: _Txn, key: _Key, expected: _Expected) -> None:
        kind = _BY_DEPTH[len(key)]
        self._guard(txn, kind, key, expected)
        self._guard_children(txn, kind, key)
        txn.cur.execute(f"DELETE FROM {kind.table} WHERE {kind.where()}", key)
        txn.wrote.append((key, None, None))

    def _create_one(self, obj: _Obj) -> _Obj:
        created: _Obj = self._write(lambda txn: self._insert(txn, obj))
        return created

    def _update_one(self, obj: _Obj) -> _Obj:
        expected = self._expected(_key_of(obj))
        updated: _Obj = self._write(lambda txn: self._update(txn, obj, expected))
        return updated

    def _delete_one(self, key: _Key) -> None:
        expected = self._expected(key)
        self._write(lambda txn: self._delete(txn, key, expected))

    def create_ns(self, ns: Namespace) -> Namespace:
        return self._create_one(ns)

    def update_ns(self, ns: Namespace) -> Namespace:
        return self._update_one(ns)

    def delete_ns(self, name: str) -> None:
        _need(name, errors.NamespaceNameNotProvidedError)
        self._delete_one((name,))

    def create_serv(self, serv: Service) -> Service:
        return self._create_one(serv)

    def update_serv(self, serv: Service) -> Service:
        return self._update_one(serv)

    def delete_serv(self, ns_name: str, serv_name: str) -> None:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        self._delete_one((ns_name, serv_name))

    def create_endp(self, endp: Endpoint) -> Endpoint:
        return self._create_one(endp)

    def update_endp(self, endp: Endpoint) -> Endpoint:
        return self._update_one(endp)

    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        self._delete_one((ns_name, serv_name, endp_name))

    def apply_endpoint_changes(
        self, changes: EndpointChanges
    ) -> dict[str, errors.ServiceRegistryError]:
        """Apply a whole endpoint set in one transaction; a failing item is rolled back alone.

        Each update and delete is guarded on the endpoint as the Broker read it
        (``changes.current``): one changed since is a ``ConflictError`` for that endpoint, and
        one the listing does not allow (see ``writes_not_in_listing``) is not attempted.
        """
        ns, serv = changes.ns_name, changes.serv_name
        current: Mapping[str, Endpoint] = changes.current or {}
        refused = {} if changes.current is None else writes_not_in_listing(changes, current)

        def expected(name: str) -> _Expected:
            return self._expected((ns, serv, name), current.get(name))

        items: list[tuple[str, Callable[[_Txn], object]]] = []
        for name in changes.delete:
            items.append(
                (name, partial(self._delete, key=(ns, serv, name), expected=expected(name)))
            )
        for endp in changes.update:
            items.append((endp.name, partial(self._update, obj=endp, expected=expected(endp.name))))
        creates = {endp.name for endp in changes.create}
        for endp in changes.create:  # the parents are checked once for all of them, below
            items.append((endp.name, partial(self._insert, obj=endp, parents_checked=True)))
        items = [item for item in items if item[0] not in refused]

        def apply(txn: _Txn) -> dict[str, errors.ServiceRegistryError]:
            failures: dict[str, errors.ServiceRegistryError] = {}
            no_parent: errors.ServiceRegistryError | None = None
            if creates:  # nothing in this transaction deletes a namespace or a service
                try:
                    self._parents(txn, (ns, serv, ""))
                except errors.ParentNotFoundError as exc:
                    no_parent = exc
            for name, action in items:
                if no_parent is not None and name in creates:
                    failures[name] = errors.ParentNotFoundError(str(no_parent))
                    continue
                txn.cur.execute("SAVEPOINT item")
                written = len(txn.wrote)
                try:
                    action(txn)
                except (errors.ServiceRegistryError, sqlite3.Error) as exc:
                    txn.cur.execute("ROLLBACK TO item")
                    del txn.wrote[written:]
                    mapped = self._mapped(exc) if isinstance(exc, sqlite3.Error) else exc
                    if isinstance(mapped, errors.RegistryTimeoutError):
                        raise mapped from exc
                    failures[name] = mapped
                txn.cur.execute("RELEASE item")
            return failures

        return {**self._write(apply), **refused}

    # errors -----------------------------------------------------------------------------------

    def _mapped(self, exc: sqlite3.Error) -> errors.ServiceRegistryError:
        """A sqlite3 error as a servregistry error naming this registry's file."""
        text = str(exc)
        where = f"the SQLite registry {self.path}"
        if isinstance(exc, sqlite3.IntegrityError):
            if "UNIQUE" in text or "PRIMARY KEY" in text:
                return errors.AlreadyExistsError(f"{where}: {text}")
            if "FOREIGN KEY" in text:
                return errors.ParentNotFoundError(f"{where}: {text}")
        if _locked(exc):
            return errors.RegistryTimeoutError(
                f"{where} stayed locked by another writer for {self.timeout:g} s: {text}"
            )
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
            return errors.RegistryUnavailableError(f"cannot open {where}: {text}")
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
            return errors.BackendError(
                f"{self.path} is not a SQLite database ({text}); point the URL at a new file "
                "or an existing registry. Nothing was written to it."
            )
        return errors.BackendError(f"{where}: {text}")


_MISSING = object()


def _locked(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds the file (SQLITE_BUSY / locked)."""
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back, unless SQLite already did (after some errors it does so by itself)."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


@contextmanager
def _lenient(conn: sqlite3.Connection) -> Iterator[None]:
    """Read text that is not UTF-8 as ``_BadText`` instead of failing (this thread's own
    connection only)."""
    conn.text_factory = _lenient_text
    try:
        yield
    finally:
        conn.text_factory = str


def _need(value: str, error: type[errors.InvalidInputError]) -> None:
    if not value:
        raise error()


def _raw(name: Any) -> _RawName:
    return (type(name).__name__, name)


def _metadata_text(metadata: Mapping[str, str]) -> str:
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False)


def _text(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, _BadText):
        raise _Unreadable(f"{column} is not valid UTF-8 text")
    if isinstance(value, bytes):
        raise _Unreadable(f"{column} is a blob, not text")
    raise _Unreadable(f"{column} is {_type_name(value)} ({_short(value)}), not text")


def _type_name(value: Any) -> str:
    """How SQLite calls a stored value's type."""
    names = {int: "an integer", float: "a real number", str: "text", type(None): "NULL"}
    return names.get(type(value), "a blob" if isinstance(value, bytes) else type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _metadata(value: Any) -> dict[str, str]:
    text = _text("metadata", value)
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _Unreadable(f"metadata is not valid JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise _Unreadable(f"metadata is {_json_type(loaded)} in JSON, not an object")
    for key, item in loaded.items():
        if not isinstance(item, str):
            raise _Unreadable(f"metadata value of {key!r} is {_json_type(item)}, not a string")
    return loaded


def _decode(kind: _Kind, row: tuple[Any, ...]) -> Any:
    """The object a row holds, as stored (``Model.stored``); ``_Unreadable`` says why not."""
    if kind is _ENDP:
        trusted = _trusted_endpoint(row)
        if trusted is not None:
            return trusted
    return _decode_stored(kind, row)


def _decode_stored(kind: _Kind, row: tuple[Any, ...]) -> Any:
    """``_decode`` through the model's rules, for any row."""
    data: dict[str, Any] = {}
    for column, value in zip((*kind.keys, *kind.values), row, strict=False):
        if column == "metadata":
            data[column] = _metadata(value)
        elif column == "port":
            if type(value) is not int:
                raise _Unreadable(f"port is {_type_name(value)} ({_short(value)}), not an integer")
            data[column] = value
        else:
            data[column] = _text(column, value)
    try:
        return kind.model.stored(data)
    except (ValueError, TypeError) as exc:
        rule = getattr(exc, "rule", None) or str(exc)
        field = getattr(exc, "field", "")
        raise _Unreadable(f"{field}: {rule}" if field else rule) from None


def _trusted_endpoint(row: tuple[Any, ...]) -> Endpoint | None:
    """The endpoint an ordinary row holds, built without running the model's rules again
    (``Endpoint.trusted``): this function proves what ``Endpoint.stored`` would check (names
    non-empty, every text storable, the port an integer in 0..65535, the metadata a JSON object
    of storable strings). Any other row is None, for the general path to read or refuse, saying
    why. An endpoint set is listed thousands of rows at a time; this is most of a cold read."""
    ns, serv, name, address, port, metadata = row[:6]
    if not (
        type(ns) is str
        and type(serv) is str
        and type(name) is str
        and type(address) is str
        and type(port) is int
        and type(metadata) is str
        and ns
        and serv
        and name
        and 0 <= port <= 65535
    ) or unstorable(f"{ns}{serv}{name}{address}"):
        return None
    pairs = _shared_metadata(metadata)
    if pairs is None:
        return None
    return Endpoint.trusted(name, ns, serv, address, port, pairs)


@lru_cache(maxsize=4096)
def _shared_metadata(text: str) -> dict[str, str] | None:
    """A metadata column holding a JSON object of storable strings, as one read-only map per
    distinct text (a service's endpoints repeat a few: the owner pair, a zone); None for any
    other text."""
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if type(loaded) is not dict:
        return None
    for key, value in loaded.items():
        if type(value) is not str or unstorable(key) or unstorable(value):
            return None
    return shared_metadata(loaded)


def _placeholder(kind: _Kind, row: tuple[Any, ...], reason: str) -> Any:
    """The foreign stand-in for a row that cannot be decoded (names only)."""
    names = {
        column: value if isinstance(value, str) and value else _literal(value)
        for column, value in zip(kind.keys, row, strict=False)
    }
    return kind.model.stored(names, unreadable=f"table {kind.table}: {reason}")


def _literal(value: Any) -> str:
    """A stored name that is not usable text, written as an SQL literal (``x'61ff'``)."""
    if isinstance(value, bytes):
        shown = value[:32].hex() + ("..." if len(value) > 32 else "")
        return f"x'{shown}'"
    if isinstance(value, str):
        return "''"
    return repr(value)


def _key_text(key: tuple[Any, ...]) -> str:
    return "/".join(v if isinstance(v, str) and v else _literal(v) for v in key)


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names))


def _summary(obj: RegistryObject) -> str:
    if isinstance(obj, Endpoint):
        return f"{obj.address}:{obj.port} {obj.metadata}"
    return str(obj.metadata)
