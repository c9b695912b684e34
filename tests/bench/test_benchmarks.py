"""The endpoint-set benchmarks run end to end at a tiny N (each cell in the test process, no
latency), so that they cannot rot: every cell must reconcile to the desired state (each cell
checks it), and the table must hold every cell with figures that make sense."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cloud_endpoint_sets, sqlite_endpoint_sets

REPO = Path(__file__).resolve().parents[2]
N = 20


def rows(table: str) -> dict[tuple[int, str], dict[str, str]]:
    """The table's rows by (N, scenario): each way's cell text and the bare-read ratio."""
    found = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[0].replace(",", "").isdigit():
            n, scenario, seed, ours, floor, *_rest = cells
            found[int(n.replace(",", "")), scenario] = {
                "seed": seed,
                "ours": ours,
                "floor": floor,
                "read": cells[7],
            }
    return found


def calls(cell: str) -> int:
    """The statement or request count of one cell's text."""
    found = re.search(r"\((\d+) (?:stmts|req),", cell)
    assert found, f"no count in {cell!r}"
    return int(found.group(1))


def test_sqlite_benchmark_measures_every_cell(capsys: pytest.CaptureFixture[str]) -> None:
    sqlite_endpoint_sets.main(["--sizes", str(N), "--repeat", "1", "--in-process"])
    table = rows(capsys.readouterr().out)
    assert set(table) == {(N, s) for s in sqlite_endpoint_sets.SCENARIOS}
    for row in table.values():
        assert "not run" not in (row["seed"], row["ours"], row["floor"]), row
    # a no-op reads once and writes nothing, whichever way
    assert {calls(table[N, "no-op"][way]) for way in ("seed", "ours", "floor")} == {1}
    assert table[N, "no-op"]["read"].endswith(")"), table[N, "no-op"]
    for scenario in ("from empty", "shrink to empty"):  # one write per endpoint at least
        assert all(calls(table[N, scenario][way]) > N for way in ("seed", "ours", "floor"))
    # the seed's algorithm opens one transaction per endpoint, ours one for all
    assert calls(table[N, "from empty"]["seed"]) > calls(table[N, "from empty"]["ours"])


def test_sqlite_benchmark_runs_its_cells_in_fresh_processes() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.sqlite_endpoint_sets", "--sizes", str(N)),
            *("--repeat", "1", "--scenarios", "10% changed", "--ways", "ours"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (row,) = rows(done.stdout).values()
    assert 0 < calls(row["ours"]) < 2 * N and row["seed"] == "not run"


def test_cloud_benchmark_measures_every_cell(capsys: pytest.CaptureFixture[str]) -> None:
    scenarios = ["from empty", "10% changed", "shrink to empty"]
    cloud_endpoint_sets.main(
        [
            *("--n", str(N), "--small-n", str(N), "--latency-ms", "0", "--in-process"),
            *("--scenarios", ",".join(scenarios)),
        ]
    )
    parts = capsys.readouterr().out.strip().split("\n\n")  # title, table, title, table
    assert len(parts) == 4 and "Cloud Map" in parts[0] and "Service Directory" in parts[2]
    for text in parts[1::2]:
        table = rows(text)
        assert set(table) == {(N, s) for s in scenarios}
        for way in ("seed", "ours", "floor"):
            # every endpoint written once, and removed once; 2 of them updated
            assert calls(table[N, "from empty"][way]) >= N
            assert calls(table[N, "shrink to empty"][way]) >= N
            assert 2 <= calls(table[N, "10% changed"][way]) < N
