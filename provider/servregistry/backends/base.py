"""What every backend shares: context management and the default ``validate``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Self

from servregistry import errors
from servregistry.model import Endpoint, RegistryObject, Service


class BaseRegistry:
    """Mixin for backends: ``with open_registry(url) as reg: ...`` closes the client."""

    def validate(self, obj: RegistryObject) -> None:
        """The model already checked names, addresses and ports; backends add their own rules."""

    def native_id(self, obj: RegistryObject) -> str:
        """The backend's own identifier of ``obj`` (an etcd key, a Cloud Map id, a Service
        Directory resource name); by default the ``ns/serv/endp`` path."""
        if isinstance(obj, Endpoint):
            return f"{obj.ns_name}/{obj.serv_name}/{obj.name}"
        if isinstance(obj, Service):
            return f"{obj.ns_name}/{obj.name}"
        return obj.name

    def close(self) -> None:
        """Release the client; the registry must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_concurrently(
    concurrency: int, tasks: Mapping[str, Callable[[], object]]
) -> dict[str, errors.ServiceRegistryError]:
    """Run named tasks, at most ``concurrency`` at a time; return the failures by name (an
    unexpected exception becomes a BackendError naming its type)."""
    failures: dict[str, errors.ServiceRegistryError] = {}
    if not tasks:
        return failures
    with ThreadPoolExecutor(max_workers=min(concurrency, len(tasks))) as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        for name, future in futures.items():
            exc = future.exception()
            if isinstance(exc, errors.ServiceRegistryError):
                failures[name] = exc
            elif exc is not None:
                failures[name] = errors.BackendError(f"{type(exc).__name__}: {exc}")
    return failures
