"""Cloud Map without what boto3 needs to sign a request (credentials, a usable region, the named
profile): a servregistry error naming the registry and the fix, never a raw botocore error, and
at once (no request is sent)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from servregistry import errors, open_registry
from servregistry.backends.cloudmap import CloudMapRegistry
from tests.fixtures.cloudmap import REGION


@pytest.fixture
def no_aws_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere boto3 looks: environment, config files, instance metadata."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def failure(reg: CloudMapRegistry) -> tuple[errors.ServiceRegistryError, float]:
    started = time.monotonic()
    try:
        with pytest.raises(errors.ServiceRegistryError) as caught:
            reg.list_ns()
    finally:
        reg.close()
    return caught.value, time.monotonic() - started


def test_no_credentials_says_how_to_provide_them(no_aws_setup: None, cloudmap_server: str) -> None:
    exc, elapsed = failure(CloudMapRegistry(REGION, endpoint_url=cloudmap_server))
    assert isinstance(exc, errors.BackendError)
    message = str(exc)
    assert message.startswith(f"Cloud Map ({REGION}): Unable to locate credentials")
    for fix in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "?profile=NAME", "?endpoint_url=URL"):
        assert fix in message
    assert type(exc.__cause__).__name__ == "NoCredentialsError"
    assert elapsed < 5


def test_an_unknown_profile_names_the_option(no_aws_setup: None, cloudmap_server: str) -> None:
    reg = open_registry(f"cloudmap://{REGION}?endpoint_url={cloudmap_server}&profile=nope")
    assert isinstance(reg, CloudMapRegistry)
    exc, _ = failure(reg)
    assert isinstance(exc, errors.BackendError)
    assert "nope" in str(exc) and "?profile=NAME" in str(exc) and "AWS_PROFILE" in str(exc)
    assert type(exc.__cause__).__name__ == "ProfileNotFound"


def test_an_invalid_region_names_the_url(no_aws_setup: None) -> None:
    exc, _ = failure(CloudMapRegistry("eu west 1"))
    assert isinstance(exc, errors.BackendError)
    assert "cloudmap://REGION" in str(exc)
    assert type(exc.__cause__).__name__ == "InvalidRegionError"


def test_a_region_is_required_before_any_client_is_built() -> None:
    with pytest.raises(errors.InvalidInputError, match="a region is required"):
        open_registry("cloudmap://")
