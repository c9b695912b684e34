"""A real Kubernetes API server on loopback, and stand-ins for the controllers it lacks.

Used by the Kubernetes tests and ``make example-kubernetes``. ``kube-apiserver`` is a real build
(scripts/install-kubernetes makes it from its Go module); it runs against a private etcd (the
launcher in ``servregistry.emulators.etcd``), serves TLS on ``127.0.0.1`` with a certificate
signed by a throwaway CA (both made with ``openssl``), signs service-account tokens with a
throwaway RSA key, admits one static bearer token as ``system:masters`` and serves every read from
etcd (no watch cache). Everything it writes stays in the caller's work directory.

No controller manager runs next to it. :class:`StandInControllers` does, for one namespace, the
three things the Kubernetes programs here need from one:

* a cloud's load-balancer controller: it publishes ingress addresses on each ``LoadBalancer``
  Service's ``/status`` subresource (``pulumi up`` of a Service waits for them);
* the garbage collector's part of a foreground deletion: pulumi-kubernetes deletes with
  ``propagationPolicy: Foreground``, which makes the API server put the ``foregroundDeletion``
  finalizer on the object and keep it until the garbage collector removes it once no dependent is
  left (none is here: the controllers that would create dependents do not run either);
* the namespace controller: it empties a namespace being deleted (of Services, the only kind
  here), then finalizes it.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from servregistry.emulators import EmulatorError, LocalServer
from servregistry.emulators.etcd import EtcdServer
from servregistry.emulators.ports import free_port

__all__ = ["EmulatorError", "KubeAPI", "KubeAPIError", "KubeAPIServer", "StandInControllers"]

#: seconds kube-apiserver gets to serve the ``default`` namespace (a cold start on a busy
#: 2-core machine takes tens of seconds)
READY_TIMEOUT = 180.0
_ATTEMPTS = 3
#: the finalizer the API server sets on an object deleted with ``propagationPolicy: Foreground``
FOREGROUND_DELETION = "foregroundDeletion"


class KubeAPIError(Exception):
    """The API server answered a request with an error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body}")
        self.status = status


class KubeAPI:
    """A minimal client of the API server's REST interface (JSON over CA-verified TLS)."""

    def __init__(self, url: str, token: str, ca_file: Path) -> None:
        self.url = url
        self.token = token
        self.ca_file = ca_file
        self._tls = ssl.create_default_context(cafile=str(ca_file))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 10,
    ) -> Any:
        """The decoded JSON answer; KubeAPIError for an error status."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(req, context=self._tls, timeout=timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise KubeAPIError(
                method, path, exc.code, exc.read().decode(errors="replace")
            ) from None

    def get(self, path: str) -> Any:
        """The object at ``path``, or None when the server answers 404."""
        try:
            return self.request("GET", path)
        except KubeAPIError as exc:
            if exc.status == 404:
                return None
            raise

    def kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig for this server (CA-verified TLS, the bearer token) to ``path``."""
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "local", "cluster": {"server": self.url, "certificate-authority-data": ca}}
            ],
            "users": [{"name": "local", "user": {"token": self.token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
            "current-context": "local",
        }
        path.write_text(json.dumps(config, indent=2))
        return path


@dataclass(frozen=True)
class Credentials:
    """Files the API server is started with, and the bearer token its token file admits."""

    ca: Path
    cert: Path
    key: Path
    service_account_key: Path
    tokens: Path
    token: str


def make_credentials(workdir: Path) -> Credentials:
    """A CA, a serving certificate for 127.0.0.1 it signs, a service-account key, and a static
    token file admitting one bearer token as ``system:masters``, in ``workdir``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise EmulatorError("openssl is not installed: apt-get install openssl")
    (workdir / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for command in (
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=servregistry-local-ca"
        " -keyout ca.key -out ca.crt",
        "req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout server.key -out server.csr",
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
        " -extfile server.ext -out server.crt",
        "genrsa -out service-account.key 2048",
    ):
        done = subprocess.run(
            [openssl, *command.split()], cwd=workdir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise EmulatorError(f"openssl {command} failed:\n{done.stderr}")
    token = secrets.token_hex(24)
    (workdir / "tokens.csv").write_text(f'{token},servregistry-local,1000,"system:masters"\n')
    return Credentials(
        ca=workdir / "ca.crt",
        cert=workdir / "server.crt",
        key=workdir / "server.key",
        service_account_key=workdir / "service-account.key",
        tokens=workdir / "tokens.csv",
        token=token,
    )


class KubeAPIServer(LocalServer):
    """A running kube-apiserver on ``https://127.0.0.1:<free port>`` backed by its own etcd;
    ``api`` is a client of it with full rights.

    Starting it raises EmulatorError when ``binary`` is missing, or the server exits or does not
    serve the ``default`` namespace within READY_TIMEOUT seconds (the message names its log in
    ``workdir``). A port taken between choosing and binding it is retried (three attempts).
    """

    def __init__(self, binary: str | Path, workdir: Path) -> None:
        if not Path(binary).is_file():
            raise EmulatorError(
                f"kube-apiserver not found at {binary}: scripts/install-kubernetes builds it"
            )
        workdir.mkdir(parents=True, exist_ok=True)
        creds = make_credentials(workdir)
        self.etcd = EtcdServer(workdir / "etcd")
        self.process: subprocess.Popen[bytes] | None = None
        try:
            for attempt in range(_ATTEMPTS):
                port = free_port()
                self.log_path = workdir / f"kube-apiserver-{attempt}.log"
                with self.log_path.open("wb") as log:
                    self.process = subprocess.Popen(
                        [
                            str(binary),
                            f"--etcd-servers=http://{self.etcd.client_url}",
                            "--bind-address=127.0.0.1",
                            "--advertise-address=127.0.0.1",
                            f"--secure-port={port}",
                            f"--tls-cert-file={creds.cert}",
                            f"--tls-private-key-file={creds.key}",
                            f"--service-account-key-file={creds.service_account_key}",
                            f"--service-account-signing-key-file={creds.service_account_key}",
                            "--service-account-issuer=https://kubernetes.default.svc",
                            f"--token-auth-file={creds.tokens}",
                            "--authorization-mode=RBAC",
                            "--service-cluster-ip-range=10.96.0.0/16",
                            "--profiling=false",
                            # reads straight from etcd: an informer's first list (resourceVersion
                            # 0) is otherwise served from the watch cache, which may not hold a
                            # write answered a moment ago, and pulumi-kubernetes then reports the
                            # Service as it was before its update
                            "--watch-cache=false",
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                self.api = KubeAPI(f"https://127.0.0.1:{port}", creds.token, creds.ca)
                if self._wait_ready(last=attempt == _ATTEMPTS - 1):
                    return
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, last: bool) -> bool:
        """True once the ``default`` namespace exists: ``/readyz`` answers before it does, and
        a create in that window fails. False if the server exited because its port was taken
        (and ``last`` is false); otherwise EmulatorError pointing at the server's log."""
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process.poll() is not None:
                text = self.log_path.read_text(errors="replace")
                if "address already in use" in text and not last:
                    return False
                raise EmulatorError(
                    f"kube-apiserver exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                if self.api.get("/api/v1/namespaces/default") is not None:
                    return True
            except (OSError, KubeAPIError):
                pass
            if time.monotonic() > deadline:
                raise EmulatorError(
                    f"kube-apiserver did not serve the default namespace within"
                    f" {READY_TIMEOUT:g} s; see {self.log_path}"
                )
            time.sleep(0.5)

    def kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig for this server to ``path`` (for KUBECONFIG)."""
        return self.api.kubeconfig(path)

    def stop(self) -> None:
        """Stop kube-apiserver (SIGTERM, then SIGKILL after 20 s), then its etcd."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.etcd.stop()


class StandInControllers:
    """In a thread, for one Kubernetes namespace, what a controller manager and a cloud would
    do there (see the module's docstring), every POLL seconds:

    * publish ``ingress`` on every LoadBalancer Service that has none and is not being deleted
      (a merge patch of ``status.loadBalancer.ingress`` on its ``/status`` subresource);
    * drop the ``foregroundDeletion`` finalizer from the namespace and its Services once they are
      being deleted (an update guarded by the resourceVersion read);
    * once the namespace is being deleted, delete its Services, and finalize it when none is
      left.

    ``published`` lists the Services given addresses, in order. Use it as a ``with`` block. A
    request that gets no answer is retried in the next round; any other error stops the thread
    and is raised as EmulatorError when the block ends (unless the block raised).
    """

    POLL = 0.2

    def __init__(self, api: KubeAPI, namespace: str, ingress: list[dict[str, str]]) -> None:
        self.api = api
        self.namespace = namespace
        self.ingress = ingress
        self.published: list[str] = []
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._error is not None and exc_type is None:
            raise EmulatorError(
                f"the stand-in controllers of namespace {self.namespace} failed: {self._error}"
            ) from self._error

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.POLL):
                try:
                    self._reconcile()
                except OSError:  # no answer in time (a busy machine): the next round retries
                    continue
        except BaseException as exc:  # raised by __exit__
            self._error = exc

    def _reconcile(self) -> None:
        base = f"/api/v1/namespaces/{self.namespace}"
        ns = self.api.get(base)
        closing = bool(ns and ns["metadata"].get("deletionTimestamp"))
        services = self.api.get(f"{base}/services") or {"items": []}
        for svc in services["items"]:
            path = f"{base}/services/{svc['metadata']['name']}"
            if svc["metadata"].get("deletionTimestamp"):
                self._collect(path, svc)
            elif closing:  # the namespace controller empties a namespace being deleted
                self._write("DELETE", path, None)
            elif svc["spec"].get("type") == "LoadBalancer" and not (
                svc.get("status", {}).get("loadBalancer", {}).get("ingress")
            ):
                patch = {"status": {"loadBalancer": {"ingress": self.ingress}}}
                if self._write("PATCH", f"{path}/status", patch, "application/merge-patch+json"):
                    self.published.append(svc["metadata"]["name"])
        if ns and closing:
            self._collect(base, ns)
            if ns["spec"].get("finalizers") and not services["items"]:
                ns["spec"]["finalizers"] = []
                self._write("PUT", f"{base}/finalize", ns)

    def _collect(self, path: str, obj: dict[str, Any]) -> None:
        """The garbage collector's end of a foreground deletion: no dependents are left (nothing
        here creates any), so the finalizer goes and the API server removes the object."""
        finalizers = obj["metadata"].get("finalizers") or []
        if FOREGROUND_DELETION in finalizers:
            obj["metadata"]["finalizers"] = [f for f in finalizers if f != FOREGROUND_DELETION]
            self._write("PUT", path, obj)  # resourceVersion in obj: refused if it changed

    def _write(
        self, method: str, path: str, body: Any, content_type: str = "application/json"
    ) -> bool:
        """True if written; False if the object is gone or changed since it was read (the next
        round reads it again)."""
        try:
            self.api.request(method, path, body, content_type=content_type)
        except KubeAPIError as exc:
            if exc.status in (404, 409):
                return False
            raise
        return True
