"""Run the real Pulumi CLI on a throwaway project: its own PULUMI_HOME and ``file://`` state."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent(
    '''
    """Declares what the stack config ``spec`` (JSON) says: one namespace, one service, one
    endpoint set. Tests change the config between runs instead of the code."""
    import json

    import pulumi

    import pulumi_servregistry as sr

    spec = json.loads(pulumi.Config().require("spec"))
    ns = sr.RegistryNamespace(
        "ns", name=spec["namespace"], metadata=spec.get("ns_metadata"),
        force_delete=spec.get("force_delete"),
    )
    svc = sr.RegistryService(
        "svc", namespace=ns.name, name=spec["service"], metadata=spec.get("metadata"),
        force_delete=spec.get("force_delete"),
    )
    eps = sr.RegistryEndpointSet(
        "eps", namespace=ns.name, service=svc.name, endpoints=spec["endpoints"]
    )
    pulumi.export("foreign_endpoints", eps.foreign_endpoints)
    pulumi.export("endpoints", eps.endpoints)
    '''
)


RESOURCES_PROGRAM = textwrap.dedent(
    '''
    """Declares, in each registry of the stack config ``registries`` (a JSON map suffix → URL),
    the resources the stack config ``resources`` (a JSON list) lists, named
    ``<name>-<suffix>``, each depending on the ones before it in its registry: ``{"kind": "ns" |
    "svc" | "eps", "name": <logical name>, "args": {...}, "aliases": [<old names>],
    "delete_before_replace": bool, "replace_on_changes": [...]}``. Tests change the config
    between runs instead of the code."""
    import json

    import pulumi

    import pulumi_servregistry as sr

    KINDS = {
        "ns": sr.RegistryNamespace, "svc": sr.RegistryService, "eps": sr.RegistryEndpointSet
    }
    config = pulumi.Config()
    for suffix, url in json.loads(config.require("registries")).items():
        declared: list[pulumi.Resource] = []
        for item in json.loads(config.require("resources")):
            opts = pulumi.ResourceOptions(
                depends_on=list(declared),
                aliases=[pulumi.Alias(name=f"{old}-{suffix}") for old in item.get("aliases", [])],
                delete_before_replace=item.get("delete_before_replace"),
                replace_on_changes=item.get("replace_on_changes"),
            )
            resource = KINDS[item["kind"]](
                f"{item['name']}-{suffix}", opts=opts, registry=url, **item["args"]
            )
            declared.append(resource)
    '''
)


class PulumiError(Exception):
    """A pulumi command failed; the message holds its output."""


class Project:
    """A Pulumi project in ``root`` with one stack ``dev``."""

    def __init__(
        self, root: Path, bin_dir: str, project: str = "e2e", program: str = PROGRAM
    ) -> None:
        self.dir = root / "project"
        self.dir.mkdir(parents=True)
        (self.dir / "Pulumi.yaml").write_text(f"name: {project}\nruntime: python\n")
        (self.dir / "__main__.py").write_text(program)
        (root / "state").mkdir()
        (root / "home").mkdir()
        self.env = {
            "PATH": os.pathsep.join([bin_dir, str(REPO / ".venv" / "bin"), os.environ["PATH"]]),
            "PULUMI_HOME": str(root / "home"),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "e2e-passphrase",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SUPPRESS_COPILOT_LINK": "true",
            "NO_COLOR": "1",
        }
        self.run("stack", "init", "dev")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # the environment as it is now (a server fixture may have set credentials since), with
        # ours on top and no etcd password: that must come from the stack secret
        env = {**os.environ, **self.env}
        env.pop("SERVREGISTRY_ETCD_PASSWORD", None)
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise PulumiError(
                f"pulumi {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def configure(self, registry: str, spec: dict[str, Any]) -> None:
        self.run("config", "set", "servregistry:registry", registry)
        self.run("config", "set", "spec", json.dumps(spec))

    def set_secret(self, key: str, value: str) -> None:
        self.run("config", "set", "--secret", key, value)

    def preview(self) -> dict[str, str]:
        """Resource name → planned operation (create, update, replace, delete); resources
        without changes are left out."""
        out = json.loads(self.run("preview", "--json").stdout)
        ops: dict[str, str] = {}
        for step in out.get("steps", []):
            name = step["urn"].rsplit("::", 1)[-1]
            op = step["op"]
            if op in ("create-replacement", "delete-replaced"):
                op = "replace"
            ops[name] = op if ops.get(name) != "replace" else "replace"
        return {name: op for name, op in ops.items() if op != "same"}

    def up(self, *args: str) -> str:
        return self.run("up", "--yes", "--skip-preview", *args).stdout

    def refresh(self) -> str:
        return self.run("refresh", "--yes", "--skip-preview").stdout

    def refresh_changes(self) -> dict[str, str]:
        """What ``pulumi refresh`` would change in the state (resource name → operation), read
        from its preview; empty when the state matches the registry."""
        out = json.loads(self.run("refresh", "--preview-only", "--json").stdout)
        ops: dict[str, str] = {}
        for step in out.get("steps", []):
            if step["op"] != "same":
                ops[step["urn"].rsplit("::", 1)[-1]] = step["op"]
        return ops

    def urn(self, name: str) -> str:
        """The URN of the stack's resource called ``name``."""
        for resource in json.loads(self.exported_state())["deployment"]["resources"]:
            if resource["urn"].rsplit("::", 1)[-1] == name:
                return str(resource["urn"])
        raise KeyError(name)

    def import_state(self, state: dict[str, Any]) -> None:
        path = self.dir / "state-import.json"
        path.write_text(json.dumps(state))
        self.run("stack", "import", "--file", str(path))

    def destroy(self) -> str:
        return self.run("destroy", "--yes", "--skip-preview").stdout

    def exported_state(self) -> str:
        return self.run("stack", "export").stdout
