"""What every backend shares: context management and the default ``validate``."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from servregistry.model import RegistryObject


class BaseRegistry:
    """Mixin for backends: ``with open_registry(url) as reg: ...`` closes the client."""

    def validate(self, obj: RegistryObject) -> None:
        """The model already checked names, addresses and ports; backends add their own rules."""

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
