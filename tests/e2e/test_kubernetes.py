"""Composition for real: examples/kubernetes run by the real Pulumi CLI, with the real
pulumi-kubernetes provider plugin, against a real kube-apiserver, registering its LoadBalancer
Service in a real registry (etcd and SQLite).

No controller manager runs next to the API server: :class:`StandInControllers` publishes
ingress addresses on the Service's ``/status`` subresource while ``pulumi up`` waits for the load
balancer (as a cloud's controller does), and completes the foreground deletions
pulumi-kubernetes asks for (as the garbage collector and the namespace controller do).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from servregistry import Endpoint, Namespace, Service, open_registry
from servregistry.emulators.kubernetes import KubeAPI, KubeAPIServer, StandInControllers
from servregistry.kubernetes import endpoint_name
from servregistry.providers.ownership import HOLDER_KEY
from servregistry.registry import ServiceRegistry
from tests.e2e.pulumi_cli import REPO, Project
from tests.e2e.test_pulumi_cli import snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.kubernetes]

EXAMPLE = REPO / "examples" / "kubernetes"
PROJECT = "servregistry-kubernetes"
STACK = {"pulumi-stack": f"{PROJECT}_dev", "owner": "cnwan-operator"}
SERVICE = "checkout"
IPS = ["192.0.2.10", "192.0.2.11"]


class WriteLog(Protocol):
    """Which endpoints the registry wrote (created, changed or deleted) since ``mark``, as seen
    by the storage itself, not by our code."""

    def mark(self) -> None: ...

    def written(self) -> set[str]: ...


def unheld(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` without the holder pair, which every object we write carries."""
    rest = dict(metadata)
    assert rest.pop(HOLDER_KEY, None), metadata
    return rest


class RevisionWrites:
    """From each endpoint's revision in the storage: a new revision or a vanished endpoint is a
    write."""

    def __init__(self) -> None:
        self.revisions: dict[str, int] = {}

    def _now(self) -> dict[str, int]:
        raise NotImplementedError

    def mark(self) -> None:
        self.revisions = self._now()

    def written(self) -> set[str]:
        now = self._now()
        changed = {name for name, rev in now.items() if self.revisions.get(name) != rev}
        return changed | (set(self.revisions) - set(now))


class EtcdWrites(RevisionWrites):
    """etcd's own ``mod_revision`` of each endpoint key."""

    def __init__(self, url: str) -> None:
        import etcd3

        super().__init__()
        location, _, prefix = url.removeprefix("etcd://").partition("/")
        host, port = location.split(":")
        self.client = etcd3.client(host=host, port=int(port))
        self.prefix = f"/{prefix.strip('/')}/"

    def _now(self) -> dict[str, int]:
        return {
            meta.key.decode().rsplit("/", 1)[-1]: meta.mod_revision
            for _, meta in self.client.get_prefix(self.prefix)
            if "/endpoints/" in meta.key.decode()
        }


class SqliteWrites(RevisionWrites):
    """The ``revision`` of each endpoint row: SQLite triggers of the registry's own layout take
    it from one counter on every insert and update, whoever writes."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.db = sqlite3.connect(url.removeprefix("sqlite://"), isolation_level=None)

    def _now(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT name, revision FROM endpoints"))


@pytest.fixture(params=["sqlite", "etcd"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{backend}_registry_url"))


@pytest.fixture
def reg(url: str) -> Iterator[ServiceRegistry]:
    registry = open_registry(url)
    registry.list_ns()  # a SQLite file gets its tables now
    yield registry
    registry.close()


@pytest.fixture
def writes(backend: str, url: str, reg: ServiceRegistry) -> WriteLog:
    return EtcdWrites(url) if backend == "etcd" else SqliteWrites(url)


@pytest.fixture
def kube(kube_apiserver: KubeAPIServer) -> KubeAPI:
    return kube_apiserver.api


@pytest.fixture
def namespace() -> str:
    """A Kubernetes (and registry) namespace of this test's own on the session's API server."""
    return f"shop-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def project(
    tmp_path: Path,
    pulumi_bin: str,
    kube: KubeAPI,
    kubernetes_parts: dict[str, str],
    namespace: str,
) -> Project:
    """examples/kubernetes as a stack ``dev``: KUBECONFIG names the test API server, and the
    provider plugin is linked into the stack's PULUMI_HOME (the engine downloads nothing)."""
    project = Project(tmp_path, pulumi_bin, project=PROJECT)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(EXAMPLE / name, project.dir / name)
    plugin = Path(kubernetes_parts["pulumi_kubernetes_plugin"])
    plugins = Path(project.env["PULUMI_HOME"]) / "plugins"
    plugins.mkdir(exist_ok=True)
    # a real folder (the engine does not follow a symlinked plugin folder), files hard-linked
    shutil.copytree(plugin, plugins / plugin.name, copy_function=os.link)
    project.env["KUBECONFIG"] = str(kube.kubeconfig(tmp_path / "kubeconfig"))
    project.run("config", "set", "namespace", namespace)
    return project


def configure(project: Project, **values: Any) -> None:
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        project.run("config", "set", key, text)


def outputs(project: Project) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(project.run("stack", "output", "--json").stdout)
    return result


def expected(namespace: str, ips: list[str], ports: list[int]) -> dict[str, tuple[str, int]]:
    """Endpoint name → (address, port): one endpoint per ingress IP and Service port."""
    return {endpoint_name(SERVICE, ip, port): (ip, port) for ip in ips for port in ports}


def registered(reg: ServiceRegistry, namespace: str) -> dict[str, tuple[str, int]]:
    return {e.name: (e.address, e.port) for e in reg.list_endp(namespace, SERVICE)}


def test_load_balancer_service_lifecycle(
    project: Project,
    url: str,
    reg: ServiceRegistry,
    writes: WriteLog,
    kube: KubeAPI,
    namespace: str,
) -> None:
    reg.create_ns(Namespace("legacy", {"owner": "someone-else"}))
    reg.create_serv(Service("billing", "legacy", {"owner": "someone-else"}))
    reg.create_endp(Endpoint("billing-1", "legacy", "billing", "10.9.0.1", 443))
    before = snapshot(reg)
    configure(project, **{"servregistry:registry": url})
    k8s_ns = f"/api/v1/namespaces/{namespace}"

    with StandInControllers(kube, namespace, [{"ip": ip} for ip in IPS]) as lb:
        # preview plans the Kubernetes objects and the registration, and writes nothing anywhere
        ops = project.preview()
        assert {k: ops.get(k) for k in ("shop", SERVICE, "checkout-registry-endpoints")} == {
            "shop": "create",
            SERVICE: "create",
            "checkout-registry-endpoints": "create",
        }
        assert kube.get(k8s_ns) is None
        assert snapshot(reg) == before

        # up waits for the load balancer, then registers one endpoint per ingress IP x port
        project.up()
        assert lb.published == [SERVICE]
        assert registered(reg, namespace) == expected(namespace, IPS, [443, 80])
        assert unheld(reg.get_serv(namespace, SERVICE).metadata) == {
            "cnwan.io/traffic-profile": "standard",
            "cnwan.io/team": "payments",
            **STACK,
        }
        assert all(unheld(e.metadata) == STACK for e in reg.list_endp(namespace, SERVICE))
        assert outputs(project)["skipped"] == []
        assert project.preview() == {}

        # new ports and annotations: the Service and the registration update in place, and the
        # registry writes only the endpoints that differ (port 80 out, 8080 in)
        configure(
            project,
            ports=[{"name": "https", "port": 443}, {"name": "alt", "port": 8080}],
            annotations={"cnwan.io/team": "checkout-team", "other.io/x": "y"},
        )
        ops = project.preview()
        assert ops[SERVICE] == "update"
        assert "replace" not in ops.values(), ops
        writes.mark()
        out = project.up()
        assert "2 endpoint(s) to create, 0 to update, 2 to delete (2 unchanged" in out
        assert writes.written() == set(expected(namespace, IPS, [80, 8080]))
        assert registered(reg, namespace) == expected(namespace, IPS, [443, 8080])
        assert unheld(reg.get_serv(namespace, SERVICE).metadata) == {
            "cnwan.io/team": "checkout-team",
            **STACK,
        }
        ports = kube.get(f"{k8s_ns}/services/{SERVICE}")["spec"]["ports"]
        assert [p["port"] for p in ports] == [443, 8080]

        # someone else registers an endpoint in our registry service
        theirs = Endpoint("theirs", namespace, SERVICE, "198.51.100.7", 9, {"owner": "x"})
        reg.create_endp(theirs)

        # deleting the Kubernetes Service removes its endpoints, and only ours; the Kubernetes
        # namespace stays, and so does the registry service that still holds the foreign endpoint
        configure(project, deployService="false")
        project.up()
        assert kube.get(f"{k8s_ns}/services/{SERVICE}") is None
        assert kube.get(k8s_ns)["status"]["phase"] == "Active"
        assert reg.list_endp(namespace, SERVICE) == [theirs]
        assert [s.name for s in reg.list_serv(namespace)] == [SERVICE]

        # back again (the load balancer publishes the new Service's addresses), then destroy:
        # everything ours goes, the foreign endpoint stays in our registry service
        configure(project, deployService="true")
        project.up()
        assert lb.published == [SERVICE, SERVICE]
        assert len(reg.list_endp(namespace, SERVICE)) == 5
        project.destroy()
        assert kube.get(k8s_ns) is None

    assert reg.list_endp(namespace, SERVICE) == [theirs]
    after = snapshot(reg)
    assert {name: after[name] for name in before} == before
    assert set(after) == {*before, namespace}


def test_hostname_only_ingress_is_skipped_never_registered_empty(
    project: Project, sqlite_registry_url: str, kube: KubeAPI, namespace: str
) -> None:
    reg = open_registry(sqlite_registry_url)
    configure(project, **{"servregistry:registry": sqlite_registry_url})
    ingress = [{"hostname": "lb-1.example.net"}, {"ip": "192.0.2.20"}]
    try:
        with StandInControllers(kube, namespace, ingress):
            project.up()
            assert registered(reg, namespace) == expected(namespace, ["192.0.2.20"], [443, 80])
            assert all(e.address for e in reg.list_endp(namespace, SERVICE))
            assert outputs(project)["skipped"] == [
                "status.loadBalancer.ingress[0]=lb-1.example.net: "
                "a hostname-only ingress has no IP address to register"
            ]
            project.destroy()
            assert kube.get(f"/api/v1/namespaces/{namespace}") is None
        assert reg.list_ns() == []
    finally:
        reg.close()


def test_stand_in_controllers_finish_what_a_bare_api_server_leaves(
    kube: KubeAPI, namespace: str
) -> None:
    """Why the stand-ins exist, against the real API server: a Service deleted the way
    pulumi-kubernetes deletes it (``propagationPolicy: Foreground``) stays, marked for deletion,
    until someone drops the ``foregroundDeletion`` finalizer, as the garbage collector does; a
    namespace being deleted stays until it is emptied and finalized."""
    ns_path = f"/api/v1/namespaces/{namespace}"
    foreground = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}

    def lb_service(name: str) -> dict[str, Any]:
        spec = {"type": "LoadBalancer", "ports": [{"name": "https", "port": 443}]}
        return {"metadata": {"name": name}, "spec": spec}

    kube.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    kube.request("POST", f"{ns_path}/services", lb_service("first"))
    kube.request("DELETE", f"{ns_path}/services/first", foreground)
    held = kube.get(f"{ns_path}/services/first")
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]

    def wait_gone(path: str) -> None:
        for _ in range(100):
            if kube.get(path) is None:
                return
            time.sleep(0.1)
        raise AssertionError(f"{path} is still there: {kube.get(path)}")

    ingress = [{"ip": "192.0.2.30"}]
    with StandInControllers(kube, namespace, ingress) as controllers:
        wait_gone(f"{ns_path}/services/first")
        kube.request("POST", f"{ns_path}/services", lb_service("second"))
        for _ in range(100):
            status = kube.get(f"{ns_path}/services/second")["status"]
            if status.get("loadBalancer", {}).get("ingress"):
                break
            time.sleep(0.1)
        assert status["loadBalancer"]["ingress"] == [{"ip": "192.0.2.30", "ipMode": "VIP"}]
        assert controllers.published == ["second"]
        # the namespace goes with the Service still in it
        kube.request("DELETE", ns_path, foreground)
        wait_gone(ns_path)
        assert kube.get(f"{ns_path}/services/second") is None
