"""The embedded registry: one SQLite file (stdlib ``sqlite3``), the default for local use.

The file uses WAL, foreign keys with ``ON DELETE CASCADE`` and a busy timeout. Each thread gets
its own connection, and every write is one ``BEGIN IMMEDIATE`` transaction, so a Pulumi provider
process calling from several threads and several processes sharing the file are both safe. A
lock the registry cannot get within the busy timeout raises ``RegistryTimeoutError``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from servregistry import errors
from servregistry.backends.base import BaseRegistry, split_url, url_option
from servregistry.model import Endpoint, Namespace, RegistryObject, Service
from servregistry.registry import EndpointChanges

__all__ = ["SqliteRegistry"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (
    name TEXT PRIMARY KEY,
    metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    ns_name TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (ns_name, name)
);
CREATE TABLE IF NOT EXISTS endpoints (
    ns_name TEXT NOT NULL,
    serv_name TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (ns_name, serv_name, name),
    FOREIGN KEY (ns_name, serv_name) REFERENCES services(ns_name, name) ON DELETE CASCADE
);
"""

_T = TypeVar("_T")


def check_name(obj: RegistryObject) -> None:
    """Names must not hold ``/``: the etcd and Service Directory layouts split on it."""
    for field in ("name", "ns_name", "serv_name"):
        value = getattr(obj, field, "")
        if "/" in value:
            kind = type(obj).__name__.lower()
            raise errors.InvalidInputError(
                field=f"{kind}.{field}", rule=f"{value!r} must not contain '/'"
            )


class SqliteRegistry(BaseRegistry):
    """A registry in one SQLite file. ``SqliteRegistry("/abs/registry.db", timeout=30.0)``."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = str(path)
        self.timeout = float(timeout)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ready = False

    @classmethod
    def from_url(cls, url: str) -> SqliteRegistry:
        """``sqlite:///abs/path.db`` (or ``sqlite:///relative.db``), ``?timeout=SECONDS``."""
        parts, query = split_url(url, {"timeout"})
        if parts.netloc:
            raise errors.InvalidInputError(
                field="registry",
                rule=f"{url!r}: a sqlite URL has no host; write sqlite:///absolute/path.db",
            )
        path = ":memory:" if parts.path == "/:memory:" else parts.path
        if not path.strip("/"):
            raise errors.InvalidInputError(field="registry", rule=f"{url!r} names no file")
        return cls(path, timeout=url_option(query, "timeout", 30.0, float))

    def __repr__(self) -> str:
        return f"SqliteRegistry({self.path!r})"

    # connections ------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise _map_error(exc) from exc
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
            ready = self._ready
        if not ready:
            self._create_schema(conn)
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        with self._transaction(conn) as cur:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)
            if cur.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
                cur.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        with self._lock:
            self._ready = True

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Cursor]:
        conn = conn or self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _map_error(exc) from exc
        cur = conn.cursor()
        try:
            yield cur
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise _map_error(exc) from exc

    def _write(self, action: Callable[[sqlite3.Cursor], _T]) -> _T:
        try:
            with self._transaction() as cur:
                return action(cur)
        except sqlite3.Error as exc:
            raise _map_error(exc) from exc

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _map_error(exc) from exc

    def close(self) -> None:
        """Close every connection this registry opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def validate(self, obj: RegistryObject) -> None:
        check_name(obj)

    # namespaces -------------------------------------------------------------------------------

    def get_ns(self, name: str) -> Namespace:
        _need(name, errors.NamespaceNameNotProvidedError)
        rows = self._read("SELECT name, metadata FROM namespaces WHERE name = ?", (name,))
        if not rows:
            raise errors.NotFoundError(f"namespace {name!r} not found")
        return _ns(rows[0])

    def list_ns(self) -> list[Namespace]:
        return [
            _ns(r) for r in self._read("SELECT name, metadata FROM namespaces ORDER BY name", ())
        ]

    def create_ns(self, ns: Namespace) -> Namespace:
        def insert(cur: sqlite3.Cursor) -> Namespace:
            if _exists(cur, "namespaces", "name = ?", (ns.name,)):
                raise errors.AlreadyExistsError(f"namespace {ns.name!r} already exists")
            cur.execute("INSERT INTO namespaces VALUES (?, ?)", (ns.name, _dump(ns.metadata)))
            return ns

        return self._write(insert)

    def update_ns(self, ns: Namespace) -> Namespace:
        def update(cur: sqlite3.Cursor) -> Namespace:
            cur.execute(
                "UPDATE namespaces SET metadata = ? WHERE name = ?", (_dump(ns.metadata), ns.name)
            )
            if cur.rowcount == 0:
                raise errors.NotFoundError(f"namespace {ns.name!r} not found")
            return ns

        return self._write(update)

    def delete_ns(self, name: str) -> None:
        _need(name, errors.NamespaceNameNotProvidedError)
        self._delete("namespaces", "name = ?", (name,), f"namespace {name!r}")

    # services ---------------------------------------------------------------------------------

    def get_serv(self, ns_name: str, serv_name: str) -> Service:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        rows = self._read(
            "SELECT name, ns_name, metadata FROM services WHERE ns_name = ? AND name = ?",
            (ns_name, serv_name),
        )
        if not rows:
            raise errors.NotFoundError(f"service {ns_name}/{serv_name} not found")
        return _serv(rows[0])

    def list_serv(self, ns_name: str) -> list[Service]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        rows = self._read(
            "SELECT name, ns_name, metadata FROM services WHERE ns_name = ? ORDER BY name",
            (ns_name,),
        )
        return [_serv(r) for r in rows]

    def create_serv(self, serv: Service) -> Service:
        def insert(cur: sqlite3.Cursor) -> Service:
            _parents(cur, serv.ns_name)
            if _exists(cur, "services", "ns_name = ? AND name = ?", (serv.ns_name, serv.name)):
                raise errors.AlreadyExistsError(
                    f"service {serv.ns_name}/{serv.name} already exists"
                )
            cur.execute(
                "INSERT INTO services VALUES (?, ?, ?)",
                (serv.ns_name, serv.name, _dump(serv.metadata)),
            )
            return serv

        return self._write(insert)

    def update_serv(self, serv: Service) -> Service:
        def update(cur: sqlite3.Cursor) -> Service:
            cur.execute(
                "UPDATE services SET metadata = ? WHERE ns_name = ? AND name = ?",
                (_dump(serv.metadata), serv.ns_name, serv.name),
            )
            if cur.rowcount == 0:
                raise errors.NotFoundError(f"service {serv.ns_name}/{serv.name} not found")
            return serv

        return self._write(update)

    def delete_serv(self, ns_name: str, serv_name: str) -> None:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        self._delete(
            "services",
            "ns_name = ? AND name = ?",
            (ns_name, serv_name),
            f"service {ns_name}/{serv_name}",
        )

    # endpoints --------------------------------------------------------------------------------

    _ENDP_COLUMNS = "name, ns_name, serv_name, address, port, metadata"

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        rows = self._read(
            f"SELECT {self._ENDP_COLUMNS} FROM endpoints"
            " WHERE ns_name = ? AND serv_name = ? AND name = ?",
            (ns_name, serv_name, endp_name),
        )
        if not rows:
            raise errors.NotFoundError(f"endpoint {ns_name}/{serv_name}/{endp_name} not found")
        return _endp(rows[0])

    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        rows = self._read(
            f"SELECT {self._ENDP_COLUMNS} FROM endpoints"
            " WHERE ns_name = ? AND serv_name = ? ORDER BY name",
            (ns_name, serv_name),
        )
        return [_endp(r) for r in rows]

    def create_endp(self, endp: Endpoint) -> Endpoint:
        return self._write(lambda cur: _create_endp(cur, endp))

    def update_endp(self, endp: Endpoint) -> Endpoint:
        return self._write(lambda cur: _update_endp(cur, endp))

    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        self._write(lambda cur: _delete_endp(cur, ns_name, serv_name, endp_name))

    def apply_endpoint_changes(
        self, changes: EndpointChanges
    ) -> dict[str, errors.ServiceRegistryError]:
        """Apply a whole endpoint set in one transaction; a failing item is rolled back alone."""
        ns, serv = changes.ns_name, changes.serv_name
        items: list[tuple[str, Callable[[sqlite3.Cursor], object]]] = [
            *((n, lambda c, n=n: _delete_endp(c, ns, serv, n)) for n in changes.delete),
            *((e.name, lambda c, e=e: _update_endp(c, e)) for e in changes.update),
            *((e.name, lambda c, e=e: _create_endp(c, e)) for e in changes.create),
        ]

        def apply(cur: sqlite3.Cursor) -> dict[str, errors.ServiceRegistryError]:
            failures: dict[str, errors.ServiceRegistryError] = {}
            for name, action in items:
                cur.execute("SAVEPOINT item")
                try:
                    action(cur)
                except errors.ServiceRegistryError as exc:
                    cur.execute("ROLLBACK TO item")
                    failures[name] = exc
                cur.execute("RELEASE item")
            return failures

        return self._write(apply)

    def _delete(self, table: str, where: str, args: tuple[str, ...], label: str) -> None:
        def delete(cur: sqlite3.Cursor) -> None:
            cur.execute(f"DELETE FROM {table} WHERE {where}", args)
            if cur.rowcount == 0:
                raise errors.NotFoundError(f"{label} not found")

        self._write(delete)


def _need(value: str, error: type[errors.InvalidInputError]) -> None:
    if not value:
        raise error()


def _exists(cur: sqlite3.Cursor, table: str, where: str, args: tuple[str, ...]) -> bool:
    return cur.execute(f"SELECT 1 FROM {table} WHERE {where}", args).fetchone() is not None


def _parents(cur: sqlite3.Cursor, ns_name: str, serv_name: str | None = None) -> None:
    if not _exists(cur, "namespaces", "name = ?", (ns_name,)):
        raise errors.ParentNotFoundError(f"namespace with name {ns_name} does not exist")
    if serv_name is not None and not _exists(
        cur, "services", "ns_name = ? AND name = ?", (ns_name, serv_name)
    ):
        raise errors.ParentNotFoundError(f"service with name {serv_name} does not exist")


def _endp_key(endp: Endpoint) -> tuple[str, str, str]:
    return (endp.ns_name, endp.serv_name, endp.name)


def _create_endp(cur: sqlite3.Cursor, endp: Endpoint) -> Endpoint:
    _parents(cur, endp.ns_name, endp.serv_name)
    if _exists(cur, "endpoints", "ns_name = ? AND serv_name = ? AND name = ?", _endp_key(endp)):
        raise errors.AlreadyExistsError(
            f"endpoint {endp.ns_name}/{endp.serv_name}/{endp.name} already exists"
        )
    cur.execute(
        "INSERT INTO endpoints VALUES (?, ?, ?, ?, ?, ?)",
        (*_endp_key(endp), endp.address, endp.port, _dump(endp.metadata)),
    )
    return endp


def _update_endp(cur: sqlite3.Cursor, endp: Endpoint) -> Endpoint:
    cur.execute(
        "UPDATE endpoints SET address = ?, port = ?, metadata = ?"
        " WHERE ns_name = ? AND serv_name = ? AND name = ?",
        (endp.address, endp.port, _dump(endp.metadata), *_endp_key(endp)),
    )
    if cur.rowcount == 0:
        raise errors.NotFoundError(
            f"endpoint {endp.ns_name}/{endp.serv_name}/{endp.name} not found"
        )
    return endp


def _delete_endp(cur: sqlite3.Cursor, ns_name: str, serv_name: str, name: str) -> None:
    cur.execute(
        "DELETE FROM endpoints WHERE ns_name = ? AND serv_name = ? AND name = ?",
        (ns_name, serv_name, name),
    )
    if cur.rowcount == 0:
        raise errors.NotFoundError(f"endpoint {ns_name}/{serv_name}/{name} not found")


def _dump(metadata: dict[str, str]) -> str:
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False)


def _load(text: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(text)
    return loaded


def _ns(row: tuple[Any, ...]) -> Namespace:
    return Namespace(row[0], _load(row[1]))


def _serv(row: tuple[Any, ...]) -> Service:
    return Service(row[0], row[1], _load(row[2]))


def _endp(row: tuple[Any, ...]) -> Endpoint:
    return Endpoint(row[0], row[1], row[2], row[3], int(row[4]), _load(row[5]))


def _map_error(exc: sqlite3.Error) -> errors.ServiceRegistryError:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE" in text or "PRIMARY KEY" in text:
            return errors.AlreadyExistsError(text)
        if "FOREIGN KEY" in text:
            return errors.ParentNotFoundError(text)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return errors.RegistryTimeoutError(f"the SQLite registry stayed locked: {text}")
    return errors.BackendError(f"SQLite: {text}")
