"""The real Pulumi CLI, built or found by scripts/install-pulumi once per session."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.pulumi_cli import REPO


@pytest.fixture(scope="session")
def pulumi_bin() -> str:
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-pulumi")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/install-pulumi failed; the end-to-end tests need it:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]
