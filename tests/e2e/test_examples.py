"""The examples as README.md runs them: ``make example-NAME`` (``scripts/example NAME``) against a
throwaway local registry with the real Pulumi CLI (scripts/install-pulumi's cache), the
``servregistry emulate`` servers it starts, and the one config convention every example follows
(``servregistry:`` keys only; an unknown key stops the program, naming it)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from servregistry import Namespace, errors, open_registry
from servregistry.stack_config import KEYS, check_keys, unknown_keys

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["local", "etcd", "cloudmap", "servicedirectory"]
#: what each example's tree shows after `pulumi up` (namespace, service, an endpoint)
EXPECTED = {
    "local": ("payments", "api", "10.0.0.10:8080"),
    "etcd": ("orders", "http", "192.0.2.10:80"),
    "cloudmap": ("inventory", "api", "[2001:db8::5]:8443"),
    "servicedirectory": ("search", "grpc", "search-a 10.2.0.7:9000"),
}


def run_example(
    name: str, tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``scripts/example NAME`` with its temporary files under ``tmp_path``."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "example"), name],
        env={**os.environ, "TMPDIR": str(tmp), "NO_COLOR": "1", "COLUMNS": "250", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in order: the script's headings between steps
        text=True,
        timeout=900,
        check=False,
    )
    return done, done.stdout


def section(out: str, title: str) -> str:
    """The output between the ``== example-NAME: TITLE`` line and the next such line."""
    parts = re.split(r"^== example-\w+: ", out, flags=re.M)
    for part in parts:
        if part.startswith(title):
            return part
    raise AssertionError(f"no section {title!r} in:\n{out}")


@pytest.mark.e2e
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_end_to_end(name: str, tmp_path: Path) -> None:
    done, out = run_example(name, tmp_path)
    assert done.returncode == 0, out
    ns, serv, endpoint = EXPECTED[name]
    tree = section(out, "the registry after pulumi up")
    stack = f"servregistry-{name}_example"
    assert re.search(rf"{ns} \(cnwan-operator, stack {stack}\)", tree), tree
    assert re.search(rf"{serv} \(cnwan-operator, stack {stack}\)", tree), tree
    assert endpoint in tree, tree
    second = section(out, "pulumi up again")
    assert re.search(r"\b\d+ unchanged", second) and "created" not in second, second
    assert "(empty registry)" in section(out, "the registry after pulumi destroy"), out
    # the server is stopped and every temporary file removed
    assert list((tmp_path / "tmp").iterdir()) == [], out


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("setting", "named", "hint"),
    [
        ("servregistry:registy=sqlite:///tmp/elsewhere.db", "servregistry:registy", "registry"),
        # what README.md once told Service Directory users to set: the program never read it
        ("endpoint=127.0.0.1:9090", "servregistry-local:endpoint", "servregistry:registry"),
    ],
)
def test_a_misspelt_config_key_stops_the_example(
    setting: str, named: str, hint: str, tmp_path: Path
) -> None:
    done, out = run_example("local", tmp_path, SERVREGISTRY_EXAMPLE_CONFIG=setting)
    assert done.returncode != 0, out
    assert f"{named}: unknown stack config key" in out, out
    assert hint in out
    assert "the registry after pulumi up" not in out  # stopped before anything was written
    assert list((tmp_path / "tmp").iterdir()) == [], out


@pytest.mark.e2e
def test_a_second_up_that_changes_anything_fails(tmp_path: Path) -> None:
    project = tmp_path / "changing"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: changing\nruntime: python\n")
    (project / "__main__.py").write_text(
        textwrap.dedent(
            """
            import uuid

            import pulumi_servregistry as sr

            sr.RegistryNamespace("ns", name="changing", metadata={"run": uuid.uuid4().hex})
            """
        )
    )
    done, out = run_example("local", tmp_path, SERVREGISTRY_EXAMPLE_DIR=str(project))
    assert done.returncode != 0, out
    assert "no changes were expected" in section(out, "pulumi up again"), out
    assert "pulumi destroy" not in out
    assert list((tmp_path / "tmp").iterdir()) == [], out


def test_every_make_target_names_a_runnable_example() -> None:
    makefile = (REPO / "Makefile").read_text()
    for name in EXAMPLES:
        assert f"example-{name}" in makefile
        assert (REPO / "examples" / name / "__main__.py").exists()
        program = (REPO / "examples" / name / "__main__.py").read_text()
        assert "check_program_config()" in program, name
        # every setting an example documents is one the library reads
        for key in re.findall(r"pulumi config set (?:--secret )?(\S+)", program):
            assert key in KEYS, (name, key)


def test_unknown_keys_are_those_of_our_namespace_and_the_project() -> None:
    keys = [
        "servregistry:registry",
        "servregistry:ownerkey",
        "servregistry-etcd:etcdEndpoints",
        "aws:region",
        "kubernetes:context",
    ]
    assert unknown_keys(keys, "servregistry-etcd") == [
        "servregistry-etcd:etcdEndpoints",
        "servregistry:ownerkey",
    ]
    assert unknown_keys(keys) == ["servregistry:ownerkey"]
    with pytest.raises(errors.InvalidInputError) as caught:
        check_keys(["servregistry:ownerkey", "servregistry:registry"])
    assert caught.value.field == "servregistry:ownerkey"
    assert "did you mean servregistry:ownerKey?" in str(caught.value)
    assert "pulumi config rm servregistry:ownerkey" in str(caught.value)
    check_keys(["servregistry:registry", "servregistry:etcdPassword", "gcp:project"], "p")


@pytest.mark.parametrize("which", ["etcd", "cloudmap", "servicedirectory"])
def test_emulate_prints_a_working_url_and_stops_cleanly(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # any keys: moto checks none
        monkeypatch.setenv(key, "testing")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "servregistry", "emulate", which],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith(f"{which}://"), (url, process.stderr)
        registry = open_registry(url)
        try:
            registry.create_ns(Namespace("probe"))
            assert [ns.name for ns in registry.list_ns()] == ["probe"]
        finally:
            registry.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert list(tmp_path.iterdir()) == []  # the etcd data directory is gone with it
