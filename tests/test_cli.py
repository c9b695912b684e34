"""The ``servregistry`` command over a real SQLite registry file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.cli import app

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path) -> str:
    path = tmp_path / "registry.db"
    with SqliteRegistry(path) as reg:
        broker = Broker(reg)
        broker.manage_ns(Namespace("prod", {"team": "core"}))
        broker.manage_serv(Service("web", "prod"))
        broker.manage_serv_endps("prod", "web", [Endpoint("web-1", "prod", "web", "10.0.0.1", 80)])
        reg.create_serv(Service("theirs", "prod", {"owner": "someone-else"}))
    return f"sqlite:///{path}"


def test_tree_shows_objects_and_owners(url: str) -> None:
    result = runner.invoke(app, ["tree", url])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("prod", "team=core", "web", "web-1 10.0.0.1:80", "cnwan-operator", "someone-else"):
        assert text in out


def test_tree_json_is_complete(url: str) -> None:
    result = runner.invoke(app, ["tree", url, "--json"])
    assert result.exit_code == 0, result.output
    (ns,) = json.loads(result.output)
    services = {s["name"]: s for s in ns["services"]}
    assert set(services) == {"web", "theirs"}
    assert [e["address"] for e in services["web"]["endpoints"]] == ["10.0.0.1"]
    assert services["theirs"]["metadata"] == {"owner": "someone-else"}


def test_ls_levels(url: str) -> None:
    assert json.loads(runner.invoke(app, ["ls", url, "--json"]).output)[0]["name"] == "prod"
    listed = json.loads(runner.invoke(app, ["ls", url, "prod", "--json"]).output)
    names = [s["name"] for s in listed]
    assert names == ["theirs", "web"]
    out = runner.invoke(app, ["ls", url, "prod", "web"]).output
    assert "web-1" in out and "10.0.0.1:80" in out


def test_get_and_missing_object(url: str) -> None:
    result = runner.invoke(app, ["get", url, "prod", "web", "web-1"])
    assert result.exit_code == 0
    assert json.loads(result.output)["port"] == 80
    missing = runner.invoke(app, ["get", url, "prod", "nope"])
    assert missing.exit_code == 1
    assert "nope" in missing.output


def test_bad_url_is_a_clear_error() -> None:
    result = runner.invoke(app, ["tree", "nosuch://x"])
    assert result.exit_code == 1
    assert "nosuch" in result.output


def test_module_entry_point(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "servregistry", "ls", url, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)[0]["name"] == "prod"
