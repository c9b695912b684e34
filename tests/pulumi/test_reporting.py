"""How the providers' errors and warnings are rendered (the CLI view is in tests/e2e)."""

from __future__ import annotations

import pytest

from servregistry import errors
from servregistry.providers import reporting


def test_our_errors_read_as_their_message_and_bugs_keep_their_traceback() -> None:
    clean = reporting._CleanTraceback()
    try:
        raise errors.RegistryUnavailableError("cannot reach etcd at 127.0.0.1:1 (refused)")
    except errors.ServiceRegistryError:
        text = clean.format_exc()
    assert text.startswith("cannot reach etcd at 127.0.0.1:1 (refused); start the registry")
    assert "servregistry:registry" in text and "Traceback" not in text
    try:
        raise ValueError("a bug")
    except ValueError:
        text = clean.format_exc()
    assert text.startswith("Traceback") and "ValueError: a bug" in text
    assert clean.format_exception is reporting.traceback.format_exception


def test_install_touches_nothing_outside_the_provider_server() -> None:
    import sys
    import traceback

    main = sys.modules["__main__"]
    before = getattr(main, "traceback", None)
    reporting.install()
    assert getattr(main, "traceback", None) is before
    assert traceback.format_exc is not reporting._CleanTraceback.format_exc


def test_warn_without_engine_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    reporting.warn("left alone")
    assert capsys.readouterr().err == "warning: left alone\n"
