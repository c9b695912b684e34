"""A private etcd (the ``etcd`` binary, e.g. Debian's ``etcd-server``) on free loopback ports.

Used by the tests, the benchmarks and ``servregistry emulate etcd``: it keeps its data in a
directory of the caller's choosing, listens on ``127.0.0.1`` only, and is stopped with
``stop()`` (or by leaving a ``with`` block).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from servregistry.emulators import EmulatorError, LocalServer
from servregistry.emulators.ports import free_port

__all__ = ["EmulatorError", "EtcdServer", "etcd_binary", "member_args"]

#: seconds a fresh etcd gets to answer its first request
READY_TIMEOUT = 30.0
_ATTEMPTS = 3


def etcd_binary() -> str:
    """The ``etcd`` executable, or EmulatorError saying how to install it."""
    binary = shutil.which("etcd")
    if binary is None:
        raise EmulatorError(
            "etcd is not installed: apt-get install etcd-server (scripts/bootstrap does)"
        )
    return binary


def member_args(
    name: str, data_dir: Path, client_url: str, peer_url: str, initial_cluster: str, scheme: str
) -> list[str]:
    """etcd's arguments for one member named ``name`` serving clients on ``client_url``
    (``HOST:PORT``, over ``scheme``) and peers on ``peer_url``, in ``initial_cluster``."""
    return [
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", f"{scheme}://{client_url}",
        "--advertise-client-urls", f"{scheme}://{client_url}",
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", initial_cluster,
    ]  # fmt: skip


class EtcdServer(LocalServer):
    """A running etcd whose ``client_url`` is ``HOST:PORT`` (``127.0.0.1`` and a free port by
    default).

    Starting it raises EmulatorError when ``etcd`` is not installed, exits, or does not answer
    within READY_TIMEOUT seconds. A free port taken between choosing and binding it is retried
    with fresh ports (three attempts). ``extra_args`` go to etcd as they are.
    """

    def __init__(
        self,
        data_dir: Path,
        *extra_args: str,
        host: str = "127.0.0.1",
        port: int = 0,
        scheme: str = "http",
        ca_cert: str | None = None,
    ) -> None:
        # scheme "https" with ``--cert-file``/``--key-file`` in extra_args serves TLS; ca_cert is
        # what our readiness check trusts
        self.scheme = scheme
        self.ca_cert = ca_cert
        binary = etcd_binary()
        data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(_ATTEMPTS):
            self.port = port or free_port(host)
            self.client_url = f"{host}:{self.port}"
            peer = f"http://{host}:{free_port(host)}"
            self.log_path = data_dir / f"etcd-{attempt}.log"
            self.log = self.log_path.open("wb")
            self.process = subprocess.Popen(
                [
                    binary,
                    *member_args(
                        "local",
                        data_dir / f"data-{attempt}",
                        self.client_url,
                        peer,
                        f"local={peer}",
                        scheme,
                    ),
                    *extra_args,
                ],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready(last=bool(port) or attempt == _ATTEMPTS - 1):
                return

    @property
    def url(self) -> str:
        """The registry URL of this server (default prefix)."""
        return f"etcd://{self.client_url}/"

    def _wait_ready(self, last: bool) -> bool:
        """True once etcd answers; False if it lost a port race and ``last`` is false (the
        caller tries other ports); otherwise EmulatorError pointing at etcd's log."""
        from servregistry.backends.etcd import EtcdRegistry

        registry = EtcdRegistry([self.client_url], timeout=1.0, ca_cert=self.ca_cert)
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while True:
                if self.process.poll() is not None:
                    self.log.close()
                    if "address already in use" in self.log_path.read_text() and not last:
                        return False
                    raise EmulatorError(
                        f"etcd exited with {self.process.returncode}; see {self.log_path}"
                    )
                try:
                    registry.list_ns()
                    return True
                except Exception:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise EmulatorError(
                            f"etcd did not answer within {READY_TIMEOUT:g} s; see {self.log_path}"
                        ) from None
                    time.sleep(0.1)
        finally:
            registry.close()

    def stop(self) -> None:
        """Stop etcd (SIGTERM, then SIGKILL after 10 s) and close its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
