"""The Pulumi layer: our resources against the same number of no-op dynamic resources, through
the real CLI, side by side in one run.

    python -m bench.pulumi_layer [--services 200] [--sets 50] [--endpoints 200]
                                 [--big-set 5000] [--repeat 1]

Scenarios (each a fresh project and stack with a local ``file://`` state backend, against a fresh
SQLite registry file):

* **services**: one namespace and ``--services`` ``RegistryService`` resources;
* **endpoint sets**: one namespace, ``--sets`` services and one ``RegistryEndpointSet`` of
  ``--endpoints`` endpoints on each;
* **one big set**: one ``RegistryEndpointSet`` of ``--big-set`` endpoints, alone in the program
  (its namespace and service are written beforehand with the stack's pairs).

The baseline of each is a program with exactly as many resources of a dynamic provider that does
nothing (create returns its inputs, diff compares them) with inputs of the same shape and size
(an endpoint list of the same length). Each is timed for ``pulumi up`` from nothing and for a
``pulumi up`` that changes nothing; the table gives both times and the ratio ours / no-op (the
median of ``--repeat`` runs). It also prints the size of the exported stack state per endpoint.
A no-change ``up`` of an endpoint set reads the service's endpoints once (``check`` looks for
foreign ones in the way), so for the big set the table also gives the time of one bare range
read of them (``list_endp`` on a freshly opened registry, in this process) and the ratio of
ours to the no-op plus that read. Both sides of every ratio come from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from servregistry import Broker, Namespace, Service, open_registry
from servregistry.model import MetadataPair
from servregistry.providers.base import STACK_KEY
from servregistry.providers.ownership import label

REPO = Path(__file__).resolve().parents[1]
#: the ``<project>_<stack>`` of the bench's stacks
LABEL = "bench_bench"

PROGRAM = textwrap.dedent(
    """
    import json

    import pulumi
    from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

    import pulumi_servregistry as sr


    class Noop(ResourceProvider):
        def create(self, props):
            return CreateResult(id_=props["name"], outs=props)

        def diff(self, _id, olds, news):
            keys = set(news) | {k for k in olds if not k.startswith("__")}
            return DiffResult(changes=any(olds.get(k) != news.get(k) for k in keys))


    class Thing(Resource):
        def __init__(self, name, **props):
            super().__init__(Noop(), name, {"name": name, **props})


    config = pulumi.Config()
    kind, ours = config.require("kind"), config.require_bool("ours")
    spec = json.loads(config.require("spec"))
    endpoints = [
        {"address": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "port": 80}
        for i in range(spec["endpoints"])
    ]
    if kind == "set":
        if ours:
            sr.RegistryEndpointSet("e0", namespace="bench", service="s0", endpoints=endpoints)
        else:
            Thing("e0", namespace="bench", service="s0", endpoints=endpoints)
    else:
        ns = sr.RegistryNamespace("ns", name="bench") if ours else Thing("ns")
    for i in range(spec["count"] if kind != "set" else 0):
        if not ours:
            Thing(f"s{i}")
            if kind == "sets":
                Thing(f"e{i}", namespace="bench", service=f"s{i}", endpoints=endpoints)
            continue
        svc = sr.RegistryService(f"s{i}", namespace=ns.name, name=f"s{i}")
        if kind == "sets":
            sr.RegistryEndpointSet(
                f"e{i}", namespace=ns.name, service=svc.name, endpoints=endpoints
            )
    """
)


class Stack:
    """One project and stack ``bench`` in ``root``, its registry a SQLite file there."""

    def __init__(self, root: Path, bin_dir: str, kind: str, ours: bool, spec: dict[str, int]):
        self.dir = root / "project"
        self.dir.mkdir(parents=True)
        (self.dir / "Pulumi.yaml").write_text("name: bench\nruntime: python\n")
        (self.dir / "__main__.py").write_text(PROGRAM)
        for sub in ("state", "home"):
            (root / sub).mkdir()
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([bin_dir, str(REPO / ".venv" / "bin"), os.environ["PATH"]]),
            "PULUMI_HOME": str(root / "home"),
            "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "bench",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "NO_COLOR": "1",
        }
        self.run("stack", "init", "bench")
        self.run("config", "set", "servregistry:registry", f"sqlite://{root / 'registry.db'}")
        self.run("config", "set", "kind", kind)
        self.run("config", "set", "ours", "true" if ours else "false")
        self.run("config", "set", "spec", json.dumps(spec))
        self.url = f"sqlite://{root / 'registry.db'}"
        if kind == "set":  # the set's namespace and service, as this stack would write them
            broker = Broker(open_registry(self.url), stack=MetadataPair(STACK_KEY, label(LABEL)))
            broker.manage_ns(Namespace("bench"))
            broker.manage_serv(Service("s0", "bench"))

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def timed_up(self, *extra: str) -> float:
        started = time.perf_counter()
        self.run("up", "--yes", "--skip-preview", *extra)
        return time.perf_counter() - started

    def state_bytes(self) -> int:
        return len(self.run("stack", "export"))

    def timed_range_read(self) -> float:
        """One read of the set's endpoints on a freshly opened registry."""
        started = time.perf_counter()
        registry = open_registry(self.url)
        registry.list_endp("bench", "s0")
        elapsed = time.perf_counter() - started
        registry.close()
        return elapsed


def measure(
    bin_dir: str, kind: str, spec: dict[str, int], repeat: int
) -> dict[str, dict[str, float]]:
    """Times of up from nothing and of a no-change up, and the state size, ours and no-op."""
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(repeat):
        for ours in (False, True):  # alternate, so a busy moment hits both sides alike
            with tempfile.TemporaryDirectory(prefix="servregistry-bench-") as tmp:
                stack = Stack(Path(tmp), bin_dir, kind, ours, spec)
                cell = results.setdefault("ours" if ours else "no-op", {})
                cell.setdefault("up", []).append(stack.timed_up())
                cell.setdefault("no-change up", []).append(stack.timed_up("--expect-no-changes"))
                cell.setdefault("state", []).append(stack.state_bytes())
                if kind == "set":
                    cell.setdefault("range read", []).append(stack.timed_range_read())
                stack.run("destroy", "--yes", "--skip-preview")
    return {
        way: {k: statistics.median(v) for k, v in cell.items()} for way, cell in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--sets", type=int, default=50)
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--big-set", type=int, default=5000)
    parser.add_argument("--only", choices=["services", "sets", "set"], action="append")
    parser.add_argument("--repeat", type=int, default=1)
    opts = parser.parse_args()
    bin_dir = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-pulumi")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    scenarios = [
        ("services", f"{opts.services} services", {"count": opts.services, "endpoints": 0}),
        (
            "sets",
            f"{opts.sets} sets of {opts.endpoints}",
            {"count": opts.sets, "endpoints": opts.endpoints},
        ),
        ("set", f"one set of {opts.big_set}", {"count": 1, "endpoints": opts.big_set}),
    ]
    print("| scenario | step | no-op resources | ours | ours / no-op |")
    print("|---|---|---|---|---|")
    for kind, name, spec in scenarios:
        if opts.only and kind not in opts.only:
            continue
        cell = measure(bin_dir, kind, spec, opts.repeat)
        for step in ("up", "no-change up"):
            noop, ours = cell["no-op"][step], cell["ours"][step]
            print(f"| {name} | {step} | {noop:.2f} s | {ours:.2f} s | {ours / noop:.2f}x |")
        if kind == "set":
            read = cell["ours"]["range read"]
            budget = cell["no-op"]["no-change up"] + read
            ours = cell["ours"]["no-change up"]
            print(
                f"| {name} | no-change up vs no-op + one range read ({read:.3f} s) | "
                f"{budget:.2f} s | {ours:.2f} s | {ours / budget:.2f}x |"
            )
        if spec["endpoints"]:
            total = spec["count"] * spec["endpoints"]
            extra = cell["ours"]["state"] - cell["no-op"]["state"]
            print(
                f"| {name} | stack state | {cell['no-op']['state'] / 1e6:.2f} MB | "
                f"{cell['ours']['state'] / 1e6:.2f} MB | "
                f"{cell['ours']['state'] / total:.0f} bytes per endpoint "
                f"({extra / total:+.0f} vs no-op) |"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
