"""What the person running Pulumi sees from the providers: clean errors and real warnings.

Errors. ``pulumi.dynamic``'s provider server turns every exception a provider raises into the
gRPC status text ``traceback.format_exc()``, so a registry error would reach ``pulumi up`` as a
long traceback with the one useful line last. :func:`install` (run by ``configure``, so only in
the provider process) gives that server a ``traceback`` module whose ``format_exc`` renders our
own errors (``servregistry.errors.ServiceRegistryError``) as their message alone; every other
exception (a bug) keeps its full traceback. :func:`user_message` adds the fix to errors that
mean the registry cannot be reached.

Warnings. :func:`warn` sends a warning over the engine's log channel (the address the engine
gives the provider process on its command line), attached to the resource whose request is
being served, so the CLI counts it and shows it under that resource. Without an engine (a
direct call, a test) it is printed to stderr. A provider server other than ``pulumi.dynamic``'s
(the native plugin, ``servregistry.native``) names the engine with :func:`use_engine` and the
resource it serves with :func:`serving`.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, ModuleType
from typing import Any

from servregistry import errors

#: the stack config key that names the registry (also in ``base``)
_CONFIG_REGISTRY = "servregistry:registry"

_lock = threading.Lock()
_engine: list[Any] = []  # [] = not looked up yet; [None] = no engine; [stub]
_serving: contextvars.ContextVar[str] = contextvars.ContextVar("servregistry_urn", default="")


def user_message(exc: errors.ServiceRegistryError) -> str:
    """The message for ``exc``, with the fix added when the registry cannot be reached."""
    message = str(exc)
    if isinstance(exc, errors.RegistryUnavailableError | errors.RegistryTimeoutError):
        message += (
            f"; start the registry or point the stack config {_CONFIG_REGISTRY} "
            "(or the resource's registry input) at one that runs"
        )
    return message


class _CleanTraceback(ModuleType):
    """``traceback`` as the dynamic provider server sees it: our errors read as one message."""

    def __init__(self) -> None:
        super().__init__("traceback")
        # everything of ``traceback`` but format_exc, which the class defines
        self.__dict__.update(
            {k: v for k, v in vars(traceback).items() if k not in ("format_exc", "__name__")}
        )

    @staticmethod
    def format_exc(limit: int | None = None, chain: bool = True) -> str:
        exc = sys.exc_info()[1]
        if isinstance(exc, errors.ServiceRegistryError):
            return user_message(exc)
        return traceback.format_exc(limit, chain)


def install() -> None:
    """Make the running ``pulumi.dynamic`` provider server report our errors as their message
    alone (idempotent; nothing happens outside that server)."""
    server = sys.modules.get("__main__")
    spec = getattr(server, "__spec__", None)
    if server is None or getattr(spec, "name", "") != "pulumi.dynamic.__main__":
        return
    if getattr(server, "traceback", None) is traceback:
        server.traceback = _CleanTraceback()  # type: ignore[attr-defined]


def _engine_stub() -> Any:
    """The engine's gRPC client for this provider process, or None."""
    with _lock:
        if not _engine:
            _engine.append(_connect())
        return _engine[0]


def _connect() -> Any:
    server = sys.modules.get("__main__")
    spec = getattr(server, "__spec__", None)
    if getattr(spec, "name", "") != "pulumi.dynamic.__main__" or len(sys.argv) < 2:
        return None
    return _stub(sys.argv[1])


def _stub(address: str) -> Any:
    if ":" not in address or address.startswith("-"):
        return None
    import grpc
    from pulumi.runtime.proto import engine_pb2_grpc

    return engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))


def use_engine(address: str) -> None:
    """Send warnings to the engine at ``address`` (a provider plugin's engine argument)."""
    with _lock:
        _engine[:] = [_stub(address)]


@contextmanager
def serving(urn: str) -> Iterator[None]:
    """Attach the warnings given inside the block to the resource ``urn``."""
    token = _serving.set(urn)
    try:
        yield
    finally:
        _serving.reset(token)


def current_urn() -> str:
    """The URN of the resource whose request this thread serves ("" when unknown): the
    provider server's request object, found on the call stack."""
    if _serving.get():
        return _serving.get()
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "__main__":
            urn = getattr(frame.f_locals.get("request"), "urn", None)
            if isinstance(urn, str) and urn:
                return urn
        frame = frame.f_back
    return ""


def warn(message: str) -> None:
    """A Pulumi warning attached to the current resource (stderr without an engine)."""
    engine = _engine_stub()
    if engine is not None:
        from pulumi.runtime.proto import engine_pb2

        try:
            engine.Log(
                engine_pb2.LogRequest(
                    severity=engine_pb2.WARNING, message=message, urn=current_urn()
                )
            )
            return
        except Exception:  # the engine is gone: say it on stderr instead
            pass
    print(f"warning: {message}", file=sys.stderr, flush=True)
