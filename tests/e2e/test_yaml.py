"""End to end with the real Pulumi CLI and the native plugin: a Pulumi YAML program
(``runtime: yaml``) using the three ``servregistry:index:*`` resources, against SQLite and
etcd. Preview writes nothing; up; a second up changes nothing; ``preview --diff`` after removing
one endpoint names only it; refresh shows drift made outside; an object carrying our pairs is
imported (and the next up updates it in place), a foreign one is refused naming its owner;
destroy leaves foreign objects. Also: a YAML stack and a Python stack refuse each other's objects
alike; the etcd password is a provider secret; ``make example-yaml``; and a Python program using
the generated Python SDK (``pulumi_servregistry_native``) with ``import_`` and ``get``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servregistry import Endpoint, Namespace, Service, open_registry
from servregistry.backends.etcd import EtcdRegistry
from servregistry.broker import Broker
from servregistry.model import MetadataPair
from servregistry.registry import ServiceRegistry
from tests.e2e.pulumi_cli import REPO, Project, PulumiError
from tests.e2e.test_examples import run_example, section
from tests.e2e.test_pulumi_cli import snapshot
from tests.fixtures.etcd import ETCD_ROOT_PASSWORD, EtcdServer

pytestmark = pytest.mark.e2e

OWNER = MetadataPair("owner", "cnwan-operator")
STACK = MetadataPair("pulumi-stack", "e2e_dev")
ENDPOINTS = [
    {"name": f"api-{x}", "address": f"10.0.0.{i}", "port": 80} for i, x in enumerate("abcd", 1)
]


def program(
    endpoints: list[dict[str, Any]], seen: bool = False, **extra: dict[str, Any]
) -> dict[str, Any]:
    """A Pulumi YAML program (as data: JSON is YAML) declaring a namespace, a service and an
    endpoint set, plus ``extra`` resources; with ``seen``, it also reads the namespace as the
    registry holds it (the ``get`` option) into the output ``team``."""
    if seen:
        extra["seen"] = {"type": "servregistry:index:RegistryNamespace", "get": {"id": "payments"}}
    outputs = {"foreign": "${eps.foreignEndpoints}", "count": "${eps.endpointCount}"}
    return {
        "name": "e2e",
        "runtime": "yaml",
        "resources": {
            "ns": {
                "type": "servregistry:index:RegistryNamespace",
                "properties": {"name": "payments", "metadata": {"team": "pay"}},
            },
            "svc": {
                "type": "servregistry:index:RegistryService",
                "properties": {"namespace": "${ns.name}", "name": "api"},
            },
            "eps": {
                "type": "servregistry:index:RegistryEndpointSet",
                "properties": {
                    "namespace": "${ns.name}",
                    "service": "${svc.name}",
                    "endpoints": endpoints,
                },
            },
            **extra,
        },
        "outputs": {**outputs, "team": "${seen.metadata.team}"} if seen else outputs,
    }


class YamlProject(Project):
    """A YAML project whose CLI finds the plugin in its plugin cache (installed from the
    executable ``pulumi-resource-servregistry``), as a user installs it."""

    def __init__(self, root: Path, bin_dir: str) -> None:
        super().__init__(root, bin_dir)
        (self.dir / "__main__.py").unlink()
        plugin = shutil.which("pulumi-resource-servregistry", path=self.env["PATH"])
        assert plugin, "pulumi-resource-servregistry is not installed (scripts/bootstrap)"
        self.run("plugin", "install", "resource", "servregistry", "0.1.0", "--file", plugin)
        self.env["PULUMI_IGNORE_AMBIENT_PLUGINS"] = "true"

    def write(self, spec: dict[str, Any]) -> None:
        (self.dir / "Pulumi.yaml").write_text(json.dumps(spec, indent=2))


@pytest.fixture(params=["sqlite", "etcd"])
def yaml_registry(request: pytest.FixtureRequest) -> Iterator[tuple[str, ServiceRegistry]]:
    url: str = request.getfixturevalue(f"{request.param}_registry_url")
    registry = open_registry(url)
    yield url, registry
    registry.close()


def test_yaml_program_lifecycle(
    tmp_path: Path, pulumi_bin: str, yaml_registry: tuple[str, ServiceRegistry]
) -> None:
    url, reg = yaml_registry
    reg.create_ns(Namespace("legacy", {"owner": "someone-else"}))
    project = YamlProject(tmp_path, pulumi_bin)
    project.run("config", "set", "servregistry:registry", url)
    project.write(program(ENDPOINTS))

    # preview writes nothing
    before = snapshot(reg)
    assert project.preview() == {
        "e2e-dev": "create",
        "ns": "create",
        "svc": "create",
        "eps": "create",
    }
    assert snapshot(reg) == before

    project.up()
    ours = {e.name for e in reg.list_endp("payments", "api")}
    assert ours == {e["name"] for e in ENDPOINTS}
    assert reg.get_ns("payments").metadata["team"] == "pay"
    assert project.preview() == {}  # a second up would change nothing
    listed = json.loads(project.run("stack", "output", "--json").stdout)
    assert listed["count"] == 4  # the state's outputs keep a count and a digest, not the list

    # removing the 2nd of 4 endpoints names exactly that one
    project.write(program([ENDPOINTS[0], *ENDPOINTS[2:]]))
    shown = project.run("preview", "--diff").stdout
    changes = shown[shown.index("~ endpoints:") :].split("--outputs:--")[0]
    assert re.search(r"- \[1\]: \{", changes), shown
    assert '"api-b"' in changes and not any(f'"api-{x}"' in changes for x in "acd"), shown
    assert "1 to update" in shown
    project.up()
    assert {e.name for e in reg.list_endp("payments", "api")} == {"api-a", "api-c", "api-d"}

    # drift made outside shows in refresh; a foreign endpoint is kept, with a warning
    drifted = reg.get_ns("payments")
    reg.update_ns(drifted.model_copy(update={"metadata": {**drifted.metadata, "team": "ops"}}))
    reg.create_endp(Endpoint("foreign-1", "payments", "api", "10.9.9.9", 81, {"owner": "other"}))
    refreshed = project.run("refresh", "--preview-only", "--diff").stdout
    assert re.search(r'team: "pay" => "ops"', refreshed), refreshed
    project.write(program([*ENDPOINTS[2:]], seen=True))
    kept = project.up()
    assert "are not ours and were left alone: foreign-1" in kept, kept
    outputs = json.loads(project.run("stack", "output", "--json").stdout)
    assert outputs == {
        "foreign": ["foreign-1"],
        "team": "ops",
        "count": 2,
    }  # get reads the registry

    # import what carries our pairs (written by the servregistry Python API) ...
    broker = Broker(reg, owner=OWNER, stack=STACK)
    broker.manage_ns(Namespace("shop", {"team": "shop"}))
    broker.manage_serv(Service("web", "shop", {"tier": "fe"}))
    project.run("import", "servregistry:index:RegistryNamespace", "shop", "shop", "--yes")
    project.run("import", "servregistry:index:RegistryService", "web", "shop/web", "--yes")
    state = project.exported_state()
    assert "RegistryNamespace::shop" in state and "RegistryService::web" in state
    imported = {
        "shop": {
            "type": "servregistry:index:RegistryNamespace",
            "properties": {"name": "shop", "metadata": {"team": "shop"}},
            "options": {"protect": False},
        },
        "web": {
            "type": "servregistry:index:RegistryService",
            "properties": {"namespace": "${shop.name}", "name": "web", "metadata": {"tier": "fe"}},
            "options": {"protect": False},
        },
    }
    project.write(program([*ENDPOINTS[2:]], seen=True, **imported))
    planned = project.preview()
    assert planned.get("shop") == "update" and planned.get("web") == "update", planned
    project.up()
    assert reg.get_ns("shop").metadata["pulumi-resource"].startswith("shop-")

    # ... and refuse another owner's, saying who owns it, in one message
    refused = project.run(
        "import", "servregistry:index:RegistryNamespace", "legacy", "legacy", "--yes", check=False
    )
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "cannot import namespace 'legacy'" in out and "owner='someone-else'" in out, out
    assert "Traceback" not in out
    assert "RegistryNamespace::legacy" not in project.exported_state()

    # destroy removes ours and leaves what is not ours
    project.destroy()
    left = snapshot(reg)
    assert left["legacy"]["metadata"] == {"owner": "someone-else"}
    assert "shop" not in left
    assert set(left["payments"]["services"]["api"]["endpoints"]) == {"foreign-1"}


def test_yaml_errors_are_one_message(
    tmp_path: Path, pulumi_bin: str, sqlite_registry_url: str
) -> None:
    reg = open_registry(sqlite_registry_url)
    project = YamlProject(tmp_path, pulumi_bin)
    project.run("config", "set", "servregistry:registry", sqlite_registry_url)

    # a bad input is refused by check, naming the field in camelCase and the rule
    project.write(program([{"name": "api-a", "address": "10.0.0.1", "port": 70000}]))
    with pytest.raises(PulumiError) as failed:
        project.preview()
    out = str(failed.value)
    assert re.search(r"endpoints\[0\]\.port.*65535", out), out
    assert "Traceback" not in out

    # a declared name someone else holds: one message naming the owner; nothing written
    reg.create_ns(Namespace("payments", {"owner": "someone-else"}))
    project.write(program(ENDPOINTS))
    with pytest.raises(PulumiError) as failed:
        project.up()
    out = str(failed.value)
    assert "already exists" in out and "owner='someone-else'" in out, out
    assert "Traceback" not in out
    assert snapshot(reg) == {"payments": {"metadata": {"owner": "someone-else"}, "services": {}}}
    reg.close()


def test_yaml_and_python_stacks_keep_to_their_own(
    tmp_path: Path, pulumi_bin: str, sqlite_registry_url: str
) -> None:
    yaml_project = YamlProject(tmp_path / "yaml", pulumi_bin)
    yaml_project.run("config", "set", "servregistry:registry", sqlite_registry_url)
    yaml_project.write(program(ENDPOINTS))
    yaml_project.up()

    # a Python program (dynamic resources) of another stack: the YAML stack's objects are not
    # its own, so it refuses them exactly as it refuses any other owner's
    python_project = Project(tmp_path / "python", pulumi_bin, project="py")
    spec = {"namespace": "payments", "service": "api", "endpoints": ENDPOINTS[:1]}
    python_project.configure(sqlite_registry_url, spec)
    with pytest.raises(PulumiError) as failed:
        python_project.up()
    out = str(failed.value)
    assert "namespace 'payments' already exists" in out and "'e2e_dev', not 'py_dev'" in out, out

    # and the other way round: the YAML stack refuses what the Python stack holds
    python_project.configure(sqlite_registry_url, {**spec, "namespace": "orders"})
    python_project.up()
    yaml_project.write(
        program(
            ENDPOINTS,
            orders={
                "type": "servregistry:index:RegistryNamespace",
                "properties": {"name": "orders"},
            },
        )
    )
    with pytest.raises(PulumiError) as failed:
        yaml_project.up()
    out = str(failed.value)
    assert "namespace 'orders' already exists" in out and "'py_dev', not 'e2e_dev'" in out, out
    assert "Traceback" not in out


def test_the_etcd_password_is_a_provider_secret_never_stored(
    tmp_path: Path, pulumi_bin: str, etcd_auth_server: EtcdServer
) -> None:
    url = f"etcd://{etcd_auth_server.client_url}/yaml-auth?user=root"
    project = YamlProject(tmp_path, pulumi_bin)
    project.run("config", "set", "servregistry:registry", url)
    project.set_secret("servregistry:etcdPassword", ETCD_ROOT_PASSWORD)
    project.write(program(ENDPOINTS[:1]))
    project.up()
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert ETCD_ROOT_PASSWORD.encode() not in path.read_bytes(), path
    authed = EtcdRegistry.from_url(url)
    authed.use_password(ETCD_ROOT_PASSWORD)
    try:
        assert [e.name for e in authed.list_endp("payments", "api")] == ["api-a"]
    finally:
        authed.close()
    project.destroy()


def test_make_example_yaml_runs_end_to_end(tmp_path: Path) -> None:
    # what `make example-yaml` runs
    done, out = run_example(
        "local", tmp_path, SERVREGISTRY_EXAMPLE_DIR=str(REPO / "examples" / "yaml")
    )
    assert done.returncode == 0, out
    tree = section(out, "the registry after pulumi up")
    assert (
        "payments" in tree and "api" in tree and "api-canary" in tree and "10.0.0.11:8080" in tree
    ), tree
    assert "(empty registry)" in section(out, "the registry after pulumi destroy"), out
    makefile = (REPO / "Makefile").read_text()
    assert "SERVREGISTRY_EXAMPLE_DIR=examples/yaml bash scripts/example local" in makefile


PYTHON_NATIVE_PROGRAM = """
import pulumi
import pulumi_servregistry_native as native

shop = native.RegistryNamespace(
    "shop", name="shop", metadata={"team": "shop"}, opts=pulumi.ResourceOptions(import_="shop")
)
seen = native.RegistryNamespace.get("seen", "shop", opts=pulumi.ResourceOptions(depends_on=[shop]))
pulumi.export("team", seen.metadata["team"])
pulumi.export("owned", shop.owned)
"""


def test_a_python_program_imports_and_gets_through_the_generated_sdk(
    tmp_path: Path, pulumi_bin: str, sqlite_registry_url: str
) -> None:
    sdk = tmp_path / "sdk"
    generated = subprocess.run(
        ["bash", str(REPO / "tools" / "gen-sdk" / "run"), str(sdk)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    site = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            *[str(sdk / "python")],
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    reg = open_registry(sqlite_registry_url)
    Broker(reg, owner=OWNER, stack=MetadataPair("pulumi-stack", "py_dev")).manage_ns(
        Namespace("shop", {"team": "shop"})
    )
    project = Project(tmp_path / "project", pulumi_bin, project="py", program=PYTHON_NATIVE_PROGRAM)
    project.env["PYTHONPATH"] = str(site)
    project.run("config", "set", "servregistry:registry", sqlite_registry_url)
    out = project.up()
    assert "1 imported" in out, out
    assert json.loads(project.run("stack", "output", "--json").stdout) == {
        "team": "shop",
        "owned": True,
    }
    assert '"servregistry:index:RegistryNamespace"' in project.exported_state()
    reg.close()
