"""The Go and TypeScript SDKs in sdks/ are what the schema generates (tools/gen-sdk/run), and
the Go SDK compiles against the Pulumi Go SDK it pins (sdks/go/go.mod)."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SDKS = REPO / "sdks"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not installed; the SDK checks need it (as scripts/install-pulumi does)")
    return go


def _differences(a: Path, b: Path) -> list[str]:
    compared = filecmp.dircmp(a, b)
    found = [f"{a / n}" for n in compared.left_only + compared.right_only + compared.diff_files]
    for name in compared.common_dirs:
        found += _differences(a / name, b / name)
    return found


def test_checked_in_sdks_are_what_the_schema_generates(tmp_path: Path) -> None:
    _go()
    done = subprocess.run(
        ["bash", str(REPO / "tools" / "gen-sdk" / "run"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for part in ("go/servregistry", "nodejs"):
        stale = _differences(tmp_path / part, SDKS / part)
        assert not stale, f"run tools/gen-sdk/run to regenerate sdks/: {stale}"


def test_go_sdk_compiles() -> None:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    done = subprocess.run(
        [_go(), "vet", "./..."],
        cwd=SDKS / "go",
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_typescript_sdk_compiles(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the TypeScript SDK's compile check needs Node.js")
    work = tmp_path / "nodejs"
    shutil.copytree(SDKS / "nodejs", work)
    package = work / "package.json"
    package.write_text(package.read_text().replace('"${VERSION}"', '"0.1.0"'))
    for command in (
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        [npm, "exec", "--", "tsc"],
    ):
        done = subprocess.run(
            command, cwd=work, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    assert (work / "bin" / "registryEndpointSet.d.ts").exists()
