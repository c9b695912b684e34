"""Local stand-ins for registry servers, the one home of those used by tests, benchmarks and the
example commands (``servregistry emulate etcd|cloudmap|servicedirectory``): a private etcd
(``etcd``), moto's AWS server made as strict as the Cloud Map API (``cloudmap``), our Service
Directory emulator (``servicedirectory``), and a real kube-apiserver with stand-in controllers for
what a bare API server leaves undone (``kubernetes``)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class EmulatorError(RuntimeError):
    """A local server could not be started; the message says why (and where its log is)."""


class LocalServer:
    """A server this package started: ``stop()`` ends it, and so does leaving a ``with`` block."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
