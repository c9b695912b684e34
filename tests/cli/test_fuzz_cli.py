"""Fuzz the ``servregistry`` command in-process (its Typer app, as the console script runs it)
over a real SQLite registry: every argument list ends in exit 0 with the right answer, exit 1
with an error on stderr, or exit 2 (a usage error) — never an uncaught exception, never a
password in the output, never a change to the registry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from servregistry import Broker, Endpoint, Namespace, Service
from servregistry.backends.sqlite import SqliteRegistry
from servregistry.cli import app
from servregistry.model import RegistryObject
from tests.fixtures.fuzz import (
    PASSWORD,
    Tally,
    any_text,
    examples,
    names,
    snapshot,
    tally_fixture,  # noqa: F401 - the fixture
)

runner = CliRunner()


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SqliteRegistry]]:
    path = tmp_path_factory.mktemp("cli-fuzz") / "registry.db"
    reg = SqliteRegistry(path)
    broker = Broker(reg)
    broker.manage_ns(Namespace("prod", {"team": "core", "note": "é ✓"}))
    broker.manage_serv(Service("web", "prod", {"tier": "1"}))
    broker.manage_serv_endps(
        "prod",
        "web",
        [
            Endpoint("web-1", "prod", "web", "10.0.0.1", 80),
            Endpoint("web-6", "prod", "web", "fe80::1%eth0", 443, {"zone": "a"}),
        ],
    )
    reg.create_ns(Namespace("theirs", {"owner": "someone-else"}))
    yield f"sqlite:///{path}", reg
    reg.close()


#: paths that exist in the populated registry; a drawn name may replace any part
paths = st.sampled_from([("prod", "web", "web-1"), ("prod", "web", "web-6"), ("theirs",)])


@st.composite
def arguments(draw: st.DrawFn, url: str) -> list[str]:
    scheme_rest = url.partition("://")
    bad_url = st.one_of(
        st.just(f"{scheme_rest[0]}://u:{PASSWORD}@{scheme_rest[2]}"),
        st.just(f"etcd://u:{PASSWORD}@127.0.0.1:1/p"),
        st.just(url + "?timeout=nan"),
        st.just(url + "?timeout=-1"),
        st.just("sqlite:///"),
        any_text,
    )
    chosen = draw(bad_url) if draw(st.integers(0, 3)) == 3 else url
    command = draw(st.sampled_from(["tree", "ls", "get"]))
    args = [command, chosen]
    most = {"tree": 0, "ls": 2, "get": 3}[command]
    path = list(draw(paths))[: draw(st.integers(1 if command == "get" else 0, most))]
    for index in draw(st.sets(st.integers(0, 2), max_size=1)):
        if index < len(path):
            path[index] = draw(names)
    args.extend(path)
    if command != "get" and draw(st.booleans()):
        args.append("--json")
    if command != "get" and draw(st.booleans()):
        args.extend(["--owner-key", draw(st.one_of(st.just("owner"), any_text))])
    if command == "tree" and draw(st.booleans()):
        args.extend(["-n", draw(st.one_of(st.just("prod"), names))])
    return args


@settings(max_examples=examples(150))
@given(data=st.data())
def test_cli_arguments(
    tally: Tally, populated: tuple[str, SqliteRegistry], data: st.DataObject
) -> None:
    url, reg = populated
    args = data.draw(arguments(url), label="args")
    tally.example()
    before = snapshot(reg)
    result = runner.invoke(app, args)
    assert snapshot(reg) == before
    assert PASSWORD not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args!r} raised {result.exception!r}"
    )
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 0:
        tally.accept()
        if args[0] == "get":
            shown = json.loads(result.stdout)
            names_given = [a for a in args[2:] if not a.startswith("-")]
            expected: RegistryObject
            if len(names_given) == 1:
                expected = reg.get_ns(names_given[0])
            elif len(names_given) == 2:
                expected = reg.get_serv(*names_given)
            else:
                expected = reg.get_endp(*names_given)
            assert shown == json.loads(expected.model_dump_json())
        return
    kind = "UsageError" if result.exit_code == 2 else "CliError"
    tally.refused[kind] += 1
    assert result.output.strip(), "refused without a message"
