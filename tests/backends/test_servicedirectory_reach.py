"""Service Directory out of reach or without credentials: bounded by the registry's timeout,
mapped onto RegistryUnavailableError / RegistryTimeoutError, and messages that name the fix.

The times asserted are behaviour bounds with a generous margin (the timeout plus 5 s), not
speed benchmarks; each test prints what it measured (``pytest -s``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from servregistry import Broker, Endpoint, Namespace, errors, open_registry
from servregistry.backends.servicedirectory.registry import (
    UNAVAILABLE_ATTEMPTS,
    ServiceDirectoryRegistry,
)
from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator
from tests.fixtures.servers import free_port

MARGIN = 5.0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``host:port`` of a socket that accepts connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def timed(call: object) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(errors.ServiceRegistryError) as caught:
        call()  # type: ignore[operator]
    return caught.value, time.monotonic() - started


def test_nothing_listening_is_unavailable_within_seconds_not_the_whole_timeout() -> None:
    """The default timeout (30 s) still applies, but a refused connection is tried
    UNAVAILABLE_ATTEMPTS times and then reported, as Cloud Map and etcd do (it took the whole
    30 s before)."""
    reg = open_registry(f"servicedirectory://p/r?endpoint=127.0.0.1:{free_port()}")
    assert isinstance(reg, ServiceDirectoryRegistry) and reg.timeout == 30.0
    try:
        for call in (lambda: reg.get_ns("prod"), reg.list_ns):
            exc, elapsed = timed(call)
            assert isinstance(exc, errors.RegistryUnavailableError)
            assert "cannot be reached" in str(exc) and "Service Directory (p/r)" in str(exc)
            assert elapsed < 2.0 * UNAVAILABLE_ATTEMPTS + MARGIN
            print(f"refused connection: {type(exc).__name__} after {elapsed:.2f} s")
    finally:
        reg.close()


@pytest.mark.parametrize("timeout", [1.0, 3.0])
def test_a_silent_server_times_out_within_the_configured_timeout(
    silent_server: str, timeout: float
) -> None:
    reg = open_registry(f"servicedirectory://p/r?endpoint={silent_server}&timeout={timeout:g}")
    try:
        for call in (lambda: reg.get_ns("prod"), reg.list_ns):
            exc, elapsed = timed(call)
            assert isinstance(exc, errors.RegistryTimeoutError)
            assert elapsed < timeout + MARGIN
            print(f"silent server, timeout={timeout:g}: {type(exc).__name__} after {elapsed:.2f} s")
    finally:
        reg.close()


def test_broker_calls_on_a_silent_server_are_bounded(silent_server: str) -> None:
    """A Broker operation makes several calls; the first one out of time ends it."""
    reg = ServiceDirectoryRegistry("p", "r", endpoint=silent_server, timeout=1.0)
    broker = Broker(reg)
    desired = [Endpoint(f"e{i}", "prod", "web", "10.0.0.1", i) for i in range(50)]
    try:
        for name, call in {
            "manage_ns": lambda: broker.manage_ns(Namespace("prod")),
            "manage_serv_endps": lambda: broker.manage_serv_endps("prod", "web", desired),
            "remove_serv (force)": lambda: broker.remove_serv("prod", "web", True),
        }.items():
            exc, elapsed = timed(call)
            assert isinstance(exc, errors.RegistryTimeoutError), name
            assert elapsed < 1.0 + MARGIN, name
            print(f"silent server, {name}: {type(exc).__name__} after {elapsed:.2f} s")
    finally:
        reg.close()


def test_a_slow_emulator_is_a_timeout() -> None:
    slow = ServiceDirectoryEmulator(latency_ms=1500)
    port = slow.start()
    reg = ServiceDirectoryRegistry("p", "r", endpoint=f"127.0.0.1:{port}", timeout=0.5)
    try:
        exc, elapsed = timed(reg.list_ns)
        assert isinstance(exc, errors.RegistryTimeoutError) and elapsed < 0.5 + MARGIN
    finally:
        reg.close()
        slow.stop()


def test_unavailable_is_retried_a_few_times_within_the_timeout(
    servicedirectory_registry: ServiceDirectoryRegistry,
    servicedirectory_emulator: ServiceDirectoryEmulator,
) -> None:
    reg, emulator = servicedirectory_registry, servicedirectory_emulator
    before = emulator.calls["ListNamespaces"]
    emulator.fail_next("ListNamespaces", grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_ATTEMPTS - 1)
    assert reg.list_ns() == []  # the last attempt answers
    emulator.fail_next("ListNamespaces", grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_ATTEMPTS)
    exc, _ = timed(reg.list_ns)
    assert isinstance(exc, errors.RegistryUnavailableError)
    assert emulator.calls["ListNamespaces"] == before + 2 * UNAVAILABLE_ATTEMPTS


def test_refused_credentials_say_how_to_fix_them(
    servicedirectory_registry: ServiceDirectoryRegistry,
    servicedirectory_emulator: ServiceDirectoryEmulator,
) -> None:
    servicedirectory_emulator.fail_next("ListNamespaces", grpc.StatusCode.UNAUTHENTICATED)
    exc, _ = timed(servicedirectory_registry.list_ns)
    assert isinstance(exc, errors.BackendError)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(exc) and "?endpoint=HOST:PORT" in str(exc)


_WITHOUT_ADC = """
import json, sys, time
from servregistry import errors, open_registry
reg = open_registry("servicedirectory://my-project/us-central1")
started = time.monotonic()
try:
    reg.list_ns()
except errors.ServiceRegistryError as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc),
                      "cause": type(exc.__cause__).__name__,
                      "elapsed": time.monotonic() - started}))
"""


def test_no_application_default_credentials_names_the_fix(tmp_path: Path) -> None:
    """A fresh process with no credentials anywhere google-auth looks (no key file, an empty
    gcloud configuration, not on Google Cloud)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update(CLOUDSDK_CONFIG=str(tmp_path), NO_GCE_CHECK="true", HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_ADC],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["type"] == "BackendError"
    assert result["cause"] == "DefaultCredentialsError"
    message = result["message"]
    assert message.startswith("Service Directory (my-project/us-central1): no Google credentials")
    for fix in ("gcloud auth application-default login", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert fix in message
    assert "?endpoint=HOST:PORT" in message
    assert result["elapsed"] < 30.0 + MARGIN  # the default timeout: no network wait beyond it
    print(f"no credentials: {result['type']} after {result['elapsed']:.2f} s")
