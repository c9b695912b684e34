"""What the emulator suites share: the official clients over one channel to the session's
Service Directory emulator, and a fresh location per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.cloud import servicedirectory_v1 as sd
from google.cloud.servicedirectory_v1.services.lookup_service.transports import (
    LookupServiceGrpcTransport,
)
from google.cloud.servicedirectory_v1.services.registration_service.transports import (
    RegistrationServiceGrpcTransport,
)


@pytest.fixture
def channel(servicedirectory_server: str) -> Iterator[grpc.Channel]:
    chan = grpc.insecure_channel(servicedirectory_server)
    yield chan
    chan.close()


@pytest.fixture
def client(channel: grpc.Channel) -> Any:
    """The official registration client, over the session emulator's channel."""
    return sd.RegistrationServiceClient(transport=RegistrationServiceGrpcTransport(channel=channel))


@pytest.fixture
def lookup(channel: grpc.Channel) -> Any:
    return sd.LookupServiceClient(transport=LookupServiceGrpcTransport(channel=channel))


@pytest.fixture
def location() -> str:
    return f"projects/p-{uuid.uuid4().hex[:8]}/locations/us-central1"
