"""The ``servregistry`` command over a real SQLite registry file."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.cli import app
from servregistry.stack_config import STACK_METADATA_KEY

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


@pytest.fixture
def marked_url(tmp_path: Path) -> str:
    """A registry whose values look like Rich markup, with an IPv6 endpoint and a stack pair."""
    path = tmp_path / "marked.db"
    with SqliteRegistry(path) as reg:
        stack = MetadataPair(STACK_METADATA_KEY, "proj_dev")
        broker = Broker(reg, stack=stack)
        broker.manage_ns(Namespace("prod", {"note": "[bold]keep[/bold] [aws]"}))
        broker.manage_serv(Service("web", "prod", {"tier": "[aws]"}))
        broker.manage_serv_endps(
            "prod", "web", [Endpoint("web-6", "prod", "web", "2001:db8::5", 8443)]
        )
    return f"sqlite:///{path}"


def test_values_are_printed_as_stored_not_as_markup(marked_url: str) -> None:
    tree_out = runner.invoke(app, ["tree", marked_url]).output
    assert "note=[bold]keep[/bold] [aws]" in tree_out
    assert "tier=[aws]" in tree_out
    ls_out = runner.invoke(app, ["ls", marked_url, "prod"]).output
    assert "[aws]" in ls_out


def test_ipv6_endpoints_are_bracketed(marked_url: str) -> None:
    assert "[2001:db8::5]:8443" in runner.invoke(app, ["tree", marked_url]).output
    assert "[2001:db8::5]:8443" in runner.invoke(app, ["ls", marked_url, "prod", "web"]).output


def test_tree_shows_the_stack_beside_the_owner(marked_url: str) -> None:
    out = runner.invoke(app, ["tree", marked_url]).output
    assert "(cnwan-operator, stack proj_dev)" in out
    assert f"{STACK_METADATA_KEY}=" not in out  # shown beside the owner, not as metadata


@pytest.mark.parametrize(("args", "missing"), [(["nope"], "nope"), (["prod", "nope"], "nope")])
def test_ls_of_a_missing_namespace_or_service_fails(
    url: str, args: list[str], missing: str
) -> None:
    result = runner.invoke(app, ["ls", url, *args])
    assert result.exit_code == 1, result.output
    assert "not found" in result.output and missing in result.output


def test_version_and_short_help() -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.output.strip() == f"servregistry {metadata.version('pulumi-servregistry')}"
    for args in (["-h"], ["tree", "-h"], ["adopt", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_url_from_the_environment(url: str, tmp_path: Path) -> None:
    env = {"SERVREGISTRY_URL": url}
    listed = runner.invoke(app, ["ls", "prod", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [s["name"] for s in json.loads(listed.output)] == ["theirs", "web"]
    assert "web-1" in runner.invoke(app, ["tree"], env=env).output
    # a URL on the command line wins over the variable
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with SqliteRegistry(tmp_path / "other.db") as made:
        made.list_ns()  # the file is created on first use
    assert json.loads(runner.invoke(app, ["ls", other, "--json"], env=env).output) == []


def test_url_missing_everywhere_is_an_error() -> None:
    result = runner.invoke(app, ["tree"], env={"SERVREGISTRY_URL": ""})
    assert result.exit_code != 0
    assert "no registry URL" in result.output and "SERVREGISTRY_URL" in result.output


def _adopt(url: str, path: str, *extra: str) -> Result:
    return runner.invoke(app, ["adopt", url, path, *extra])


def test_adopt_stamps_only_the_named_object(url: str) -> None:
    before = {p: _get(url, p) for p in ("prod", "prod/web", "prod/web/web-1", "prod/theirs")}
    result = _adopt(url, "prod/web", "--from", "owner=cnwan-operator", "--stack", "proj_dev")
    assert result.exit_code == 0, result.output
    after = {p: _get(url, p) for p in before}
    assert after["prod/web"] == {**before["prod/web"], STACK_METADATA_KEY: "proj_dev"}
    for other in ("prod", "prod/web/web-1", "prod/theirs"):
        assert after[other] == before[other], other
    again = _adopt(url, "prod/web", "--from", "owner=cnwan-operator", "--stack", "proj_dev")
    assert again.exit_code == 0 and "nothing written" in again.output


@pytest.mark.parametrize(
    ("path", "extra", "reason"),
    [
        ("prod/theirs", ["--from", "owner=cnwan-operator"], "owner=someone-else"),
        ("prod/web", ["--from", "team=core"], "no 'team' key"),
        ("prod/web", ["--from", "owner"], "--from"),
        ("prod/nope", ["--from", "owner=cnwan-operator"], "not found"),
        ("a/b/c/d", ["--from", "owner=cnwan-operator"], "path"),
    ],
)
def test_adopt_refuses_and_writes_nothing(
    url: str, path: str, extra: list[str], reason: str
) -> None:
    before = runner.invoke(app, ["tree", url, "--json"]).output
    result = _adopt(url, path, *extra, "--stack", "proj_dev")
    assert result.exit_code == 1, result.output
    assert reason in result.output
    assert runner.invoke(app, ["tree", url, "--json"]).output == before


def test_adopt_never_takes_another_stacks_object(marked_url: str) -> None:
    before = _get(marked_url, "prod/web")
    result = _adopt(marked_url, "prod/web", "--from", "owner=cnwan-operator", "--stack", "proj_b")
    assert result.exit_code == 1
    assert f"{STACK_METADATA_KEY}=proj_dev" in result.output
    assert _get(marked_url, "prod/web") == before


def test_adopt_checks_the_stack_label(url: str) -> None:
    result = _adopt(url, "prod", "--from", "owner=cnwan-operator", "--stack", "Proj/Dev")
    assert result.exit_code == 1
    assert "--stack" in result.output and "lowercase" in result.output


def test_adopted_object_is_owned_by_that_stack(url: str) -> None:
    """What adopt writes is what a stack's Broker recognises as its own."""
    _adopt(url, "prod", "--from", "owner=cnwan-operator", "--stack", "proj_dev")
    with SqliteRegistry(Path(url.removeprefix("sqlite://"))) as reg:
        ns = reg.get_ns("prod")
        assert Broker(reg, stack=MetadataPair(STACK_METADATA_KEY, "proj_dev")).owns(ns)
        assert not Broker(reg, stack=MetadataPair(STACK_METADATA_KEY, "proj_b")).owns(ns)


def _get(url: str, path: str) -> dict[str, str]:
    result = runner.invoke(app, ["get", url, *path.split("/")])
    assert result.exit_code == 0, result.output
    metadata_: dict[str, str] = json.loads(result.output)["metadata"]
    return metadata_
