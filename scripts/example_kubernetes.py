"""`make example-kubernetes`: examples/kubernetes end to end against throwaway servers.

Starts a private etcd (the registry) and a kube-apiserver (with its own etcd) on loopback, runs
`pulumi up` of a copy of examples/kubernetes with the real pulumi-kubernetes provider plugin while
stand-ins for the controllers a bare API server lacks publish two load-balancer ingress IPs and
complete deletions, prints the registry (`servregistry tree`), then `pulumi destroy`s and stops
everything. Nothing is left behind.

Run by scripts/example-kubernetes, which builds what it needs first and passes:
    example_kubernetes.py <pulumi bin dir> <kube-apiserver> <plugin folder>
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from servregistry.emulators import EmulatorError  # noqa: E402
from servregistry.emulators.etcd import EtcdServer  # noqa: E402
from servregistry.emulators.kubernetes import KubeAPIServer, StandInControllers  # noqa: E402

INGRESS = [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11"}]


def main(pulumi_dir: str, apiserver_binary: str, plugin_folder: str) -> None:
    with tempfile.TemporaryDirectory(prefix="servregistry-k8s-") as tmp:
        root = Path(tmp)
        for name in ("registry-etcd", "kube", "state", "home/plugins"):
            (root / name).mkdir(parents=True)
        print("example-kubernetes: starting etcd and kube-apiserver on loopback", flush=True)
        with (
            EtcdServer(root / "registry-etcd") as registry_etcd,
            KubeAPIServer(apiserver_binary, root / "kube") as kube,
        ):
            project = root / "project"
            shutil.copytree(REPO / "examples" / "kubernetes", project)
            # a real folder (the engine does not follow a symlinked plugin folder)
            shutil.copytree(
                plugin_folder,
                root / "home" / "plugins" / Path(plugin_folder).name,
                copy_function=os.link,
            )
            env = {
                **os.environ,
                "PATH": os.pathsep.join(
                    [pulumi_dir, str(REPO / ".venv" / "bin"), os.environ["PATH"]]
                ),
                "PULUMI_HOME": str(root / "home"),
                "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
                "PULUMI_CONFIG_PASSPHRASE": "",
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "KUBECONFIG": str(kube.kubeconfig(root / "kubeconfig")),
            }
            url = f"etcd://{registry_etcd.client_url}/example"

            def run(*args: str) -> None:
                print(f"\n$ {' '.join(args)}", flush=True)
                subprocess.run(args, cwd=project, env=env, check=True)

            run("pulumi", "stack", "init", "example")
            run("pulumi", "config", "set", "servregistry:registry", url)
            with StandInControllers(kube.api, "shop", INGRESS):
                run("pulumi", "up", "--yes", "--skip-preview")
                run("servregistry", "tree", url)
                run("pulumi", "destroy", "--yes", "--skip-preview")
            run("servregistry", "tree", url)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except EmulatorError as exc:
        sys.exit(f"example-kubernetes: {exc}")
    except subprocess.CalledProcessError as exc:
        sys.exit(f"example-kubernetes: {' '.join(exc.cmd)} failed with {exc.returncode}")
