"""What every backend shares: context management and the default ``validate``."""

from __future__ import annotations

from types import TracebackType
from typing import Self

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
