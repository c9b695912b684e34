"""TLS options of the etcd URL, against a real etcd serving TLS with a CA made for the test."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from servregistry import Namespace, errors, open_registry
from servregistry.backends.etcd import EtcdRegistry
from servregistry.emulators.etcd import EtcdServer
from tests.fixtures.etcd import start_etcd


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem and server.pem/server-key.pem for 127.0.0.1, signed by that CA."""
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=test-ca", "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server-key.pem", "-out", "server.csr", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem",
             cwd=d)  # fmt: skip
    return d


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, tls_files: Path) -> Iterator[str]:
    server = start_etcd(
        tmp_path_factory.mktemp("etcd-tls"),
        "--cert-file",
        str(tls_files / "server.pem"),
        "--key-file",
        str(tls_files / "server-key.pem"),
        scheme="https",
        ca_cert=str(tls_files / "ca.pem"),
    )
    yield server.client_url
    server.stop()


def test_etcds_with_ca_cert_works(tls_server: str, tls_files: Path) -> None:
    url = f"etcds://{tls_server}/tls-{uuid.uuid4().hex[:8]}?ca_cert={tls_files / 'ca.pem'}"
    with open_registry(url) as reg:
        reg.create_ns(Namespace("prod"))
        assert [n.name for n in reg.list_ns()] == ["prod"]


def test_etcds_without_ca_cert_verifies_with_the_system_bundle(tls_server: str) -> None:
    """No TypeError from inside the client: the system's CA bundle is used, and it does not
    know the test CA, so the handshake fails as 'cannot reach etcd'."""
    reg = open_registry(f"etcds://{tls_server}/?timeout=3")
    with reg, pytest.raises(errors.RegistryUnavailableError, match="cannot reach etcd"):
        reg.list_ns()


@pytest.mark.parametrize("option", ["ca_cert", "cert_key", "cert_cert"])
def test_a_missing_tls_file_names_the_option_and_the_path(tmp_path: Path, option: str) -> None:
    missing = tmp_path / "nope.pem"
    present = tmp_path / "present.pem"
    present.write_text("x")
    files = {"ca_cert": present, "cert_key": present, "cert_cert": present, option: missing}
    reg = EtcdRegistry(["127.0.0.1:1"], tls=True, **{k: str(v) for k, v in files.items()})
    with pytest.raises(errors.InvalidInputError, match=f"{option}.*nope.pem") as caught:
        reg.list_ns()
    assert caught.value.field == f"registry.{option}"


def test_a_client_key_needs_its_certificate(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("x")
    reg = EtcdRegistry.from_url(f"etcds://127.0.0.1:1/?cert_key={key}")
    with pytest.raises(errors.InvalidInputError, match="cert_cert and cert_key") as caught:
        reg.list_ns()
    assert caught.value.field == "registry.cert_cert"


def test_tls_against_a_plaintext_etcd_fails_cleanly(etcd_server: EtcdServer) -> None:
    reg = open_registry(f"etcds://{etcd_server.client_url}/?timeout=2")
    with reg, pytest.raises((errors.RegistryUnavailableError, errors.RegistryTimeoutError)):
        reg.list_ns()
