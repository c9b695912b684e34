"""``servregistry emulate NAME``: start one local registry server, say its registry URL, serve
until interrupted (Ctrl-C or SIGTERM), then stop it and remove what it left behind."""

from __future__ import annotations

import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servregistry.emulators import EmulatorError

__all__ = ["CLOUDMAP_REGION", "SD_PROJECT", "SD_REGION", "run_emulator"]

#: where the emulated clouds' objects live (any value works; these are what the URLs name)
CLOUDMAP_REGION = "us-east-1"
SD_PROJECT, SD_REGION = "example-project", "us-central1"


def run_emulator(
    which: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[str], Any] = print,
    note: Callable[[str], Any] = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve emulator ``which`` (``etcd``, ``cloudmap`` or ``servicedirectory``) on
    ``host:port`` (0: a free port). Calls ``ready(url)`` with its registry URL once it answers,
    ``note(text)`` with a human line, and returns after ``stop`` is set, SIGINT or SIGTERM.
    Raises EmulatorError if it cannot start."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix=f"servregistry-{which}-") as tmp:
        url, shutdown = _start(which, host, port, Path(tmp))
        try:
            note(f"{which} listening; registry URL: {url} (Ctrl-C stops it)")
            ready(url)
            stop.wait()
        finally:
            shutdown()


def _start(which: str, host: str, port: int, tmp: Path) -> tuple[str, Callable[[], None]]:
    if which == "etcd":
        from servregistry.emulators.etcd import EtcdServer

        etcd = EtcdServer(tmp, host=host, port=port)
        return etcd.url, etcd.stop
    if which == "cloudmap":
        from servregistry.emulators.cloudmap import MotoServer

        moto = MotoServer(host, port)
        return moto.url(CLOUDMAP_REGION), moto.stop
    if which == "servicedirectory":
        from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator

        emulator = ServiceDirectoryEmulator()
        try:
            bound = emulator.start(host, port)
        except OSError as exc:
            raise EmulatorError(f"the Service Directory emulator cannot listen: {exc}") from exc
        url = f"servicedirectory://{SD_PROJECT}/{SD_REGION}?endpoint={host}:{bound}"
        return url, emulator.stop
    raise EmulatorError(f"no emulator named {which!r}; known: etcd, cloudmap, servicedirectory")
