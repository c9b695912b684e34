"""Endpoint-set reconciliation on the embedded SQLite registry: the seed's algorithm vs ours vs
the floor.

    python -m bench.sqlite_endpoint_sets [--sizes 1000,10000] [--repeat 3] [--dir DIR]
                                         [--scenarios "from empty,no-op,..."]
                                         [--ways seed,ours,floor,read]

The same table as ``bench.endpoint_sets`` (etcd): N x scenario x way, each cell a fresh process
opening a registry file prepared beforehand (by the parent, with our Broker) in the scenario's
starting state. Ways:

* **seed**: the Broker with the batch path hidden: one listing, then one ``BEGIN IMMEDIATE``
  transaction per endpoint, each guarded on what was read (the seed's ``CreateEndp``/
  ``UpdateEndp``/``DeleteEndp``);
* **ours**: ``Broker.manage_serv_endps`` with the SQLite batch path (one listing, then every
  write in one transaction, each endpoint guarded and rolled back alone on failure);
* **floor**: bare ``sqlite3`` on its own connection (the registry's pragmas): one SELECT of the
  service's endpoint rows, the desired rows encoded as stored and compared, then exactly the
  changed rows written with ``executemany`` in one transaction (stamped with one new revision,
  as the layout asks, so its triggers leave them alone), no guard;
* **read** (no-op only): the bare SELECT of the service's endpoint rows into a dict.

Figures as on etcd, except that the count is of SQL statements run (``stmts``: each
``executemany`` row, each SAVEPOINT and each trigger-free statement counts one; counted with a
trace callback, which adds well under a microsecond per statement). Files live in ``--dir``
(default: a temporary directory), so the disk is the one that directory is on.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    NS,
    SCENARIOS,
    SERV,
    Result,
    add_table_options,
    assert_converged,
    desired_of,
    endpoints,
    measure_reconcile,
    print_cell,
    run_broker,
    run_cell,
    run_seed,
    stamper,
    subset,
    summary,
    table,
)
from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.sqlite import SqliteRegistry

WAYS = ("seed", "ours", "floor", "read")
_ROWS = "SELECT name, address, port, metadata FROM endpoints WHERE ns_name = ? AND serv_name = ?"


def prepare(directory: Path, scenario: str, n: int) -> Path:
    """A fresh registry file holding the scenario's starting state; returns its path."""
    path = directory / f"bench-{uuid.uuid4().hex[:8]}.db"
    with SqliteRegistry(path) as reg:
        broker = Broker(reg)
        broker.manage_ns(Namespace(NS))
        broker.manage_serv(Service(SERV, NS))
        if scenario != "from empty":
            failures = broker.manage_serv_endps(NS, SERV, endpoints(n))
            assert not failures, failures
    return path


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# the measured cell (a fresh process) ----------------------------------------------------------


def bare_connection(path: Path) -> sqlite3.Connection:
    """A plain connection with the registry's own pragmas (autocommit; transactions by hand)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def run_floor(conn: sqlite3.Connection, reg: SqliteRegistry, desired: list[Endpoint]) -> None:
    """One SELECT, compare, then exactly the changed rows in one transaction (executemany)."""
    current = {row[0]: row[1:] for row in conn.execute(_ROWS, (NS, SERV))}
    stamp = stamper(reg)
    upserts = []
    for endp in desired:
        stamped = stamp(endp)
        row = (
            stamped.address,
            stamped.port,
            json.dumps(stamped.metadata, sort_keys=True, ensure_ascii=False),
        )
        if current.pop(endp.name, None) != row:
            upserts.append((NS, SERV, endp.name, *row))
    if not (upserts or current):
        return
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE registry_revision SET value = value + 1")
    (revision,) = conn.execute("SELECT value FROM registry_revision").fetchone()
    conn.executemany(
        "INSERT INTO endpoints (ns_name, serv_name, name, address, port, metadata, revision)"
        f" VALUES (?, ?, ?, ?, ?, ?, {int(revision)})"
        " ON CONFLICT (ns_name, serv_name, name) DO UPDATE SET address = excluded.address,"
        " port = excluded.port, metadata = excluded.metadata, revision = excluded.revision",
        upserts,
    )
    conn.executemany(
        "DELETE FROM endpoints WHERE ns_name = ? AND serv_name = ? AND name = ?",
        [(NS, SERV, name) for name in current],
    )
    conn.execute("COMMIT")


def run_read(conn: sqlite3.Connection, _reg: SqliteRegistry, _desired: list[Endpoint]) -> None:
    """The bare SELECT of the service's endpoint rows, taken into a dict."""
    rows = conn.execute(_ROWS + " ORDER BY name", (NS, SERV)).fetchall()
    current = {row[0]: row[1:] for row in rows}
    assert len(current) == len(rows)


def _on_registry(
    run: Callable[[SqliteRegistry, list[Endpoint]], None],
) -> Callable[[sqlite3.Connection, SqliteRegistry, list[Endpoint]], None]:
    return lambda _conn, reg, desired: run(reg, desired)


RUNS: dict[str, Callable[[sqlite3.Connection, SqliteRegistry, list[Endpoint]], None]] = {
    "seed": _on_registry(run_seed),
    "ours": _on_registry(run_broker),
    "floor": run_floor,
    "read": run_read,
}


class Statements:
    """Counts the SQL statements run on the connections it watches."""

    def __init__(self) -> None:
        self.calls = 0

    def watch(self, conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(self._count)

    def _count(self, _statement: str) -> None:
        self.calls += 1


def cell(path: Path, way: str, scenario: str, n: int) -> Result:
    """Run one reconcile and measure it (called in a fresh process)."""
    reg = SqliteRegistry(path)
    reg.get_serv(NS, SERV)  # open the file (and check its layout) before the baseline
    conn = bare_connection(path)
    statements = Statements()
    statements.watch(reg._conn())  # bench-only: this thread's connection, which the Broker uses
    statements.watch(conn)
    result, desired = measure_reconcile(
        lambda: desired_of(scenario, n), lambda desired: RUNS[way](conn, reg, desired)
    )
    result["calls"] = statements.calls
    conn.close()
    assert_converged(reg, desired)
    reg.close()
    return result


# the table (the parent process) ---------------------------------------------------------------


def measure(
    directory: Path, way: str, scenario: str, n: int, repeat: int, in_process: bool = False
) -> Result:
    runs = []
    for _ in range(repeat):
        path = prepare(directory, scenario, n)
        try:
            args = ["--cell", json.dumps([str(path), way, scenario, n])]
            runs.append(run_cell("bench.sqlite_endpoint_sets", args, in_process))
        finally:
            remove(path)
    return summary(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_table_options(parser, WAYS, 3, "1000,10000")
    parser.add_argument("--dir", help="where the registry files go (default: a temporary one)")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        path, way, scenario, n = json.loads(args.cell)
        print_cell(cell(Path(path), way, scenario, n))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    scenarios = subset(parser, args.scenarios, SCENARIOS, "scenario")
    ways = subset(parser, args.ways, WAYS, "way")

    def run(directory: Path) -> str:
        return table(
            sizes,
            scenarios,
            ways,
            lambda way, scenario, n: measure(
                directory, way, scenario, n, args.repeat, args.in_process
            ),
            unit="stmts",
        )

    if args.dir:
        print(run(Path(args.dir)))
        return
    with tempfile.TemporaryDirectory(prefix="servregistry-bench-") as tmp:
        print(run(Path(tmp)))


if __name__ == "__main__":
    main()
