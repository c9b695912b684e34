"""Fixtures shared by the provider-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servregistry import open_registry
from servregistry.registry import ServiceRegistry


@pytest.fixture
def reg(registry_url: str) -> Iterator[ServiceRegistry]:
    """The registry the test's resources write to, opened directly to check what they wrote."""
    registry = open_registry(registry_url)
    yield registry
    registry.close()
