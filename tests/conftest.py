"""Shared fixtures. ``registry`` is parametrized over every backend: each backend module in
``tests/fixtures/`` provides a ``<name>_registry`` fixture yielding a fresh, empty registry on a
real server (started once per session, on loopback). A backend whose server or client library is
missing makes its tests fail loudly; nothing is skipped.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

#: every backend the conformance suite runs against; ``SERVREGISTRY_TEST_BACKENDS=a,b`` narrows or
#: extends the list for one run (CI always runs the full default list)
BACKENDS = os.environ.get(
    "SERVREGISTRY_TEST_BACKENDS", "sqlite,etcd,cloudmap,servicedirectory"
).split(",")

#: fixture modules: every backend's, whichever backends the conformance suite runs against
FIXTURES = ["servers", "toolchain", "sqlite", "etcd", "cloudmap", "servicedirectory", "kubernetes"]
pytest_plugins = [f"tests.fixtures.{name}" for name in dict.fromkeys([*FIXTURES, *BACKENDS])]


@pytest.fixture(params=BACKENDS)
def registry(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh, empty registry of each backend in turn."""
    return request.getfixturevalue(f"{request.param}_registry")


@pytest.fixture(params=BACKENDS)
def registry_url(request: pytest.FixtureRequest) -> str:
    """A URL naming a fresh, empty registry of each backend in turn."""
    url: str = request.getfixturevalue(f"{request.param}_registry_url")
    return url


# The fuzz suites (tests/*/test_fuzz_*.py): "ci", the default, is derandomized (the same examples
# on every run, so a failure reproduces and the run time is fixed), keeps no example database and
# does not shrink (shrinking against real servers can take minutes: a failure is reported as
# found, with its reproduce blob); SERVREGISTRY_HYPOTHESIS=dev explores new examples on each run,
# shrinks, and remembers failures.
_FUZZ = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    **_FUZZ,
)
settings.register_profile("dev", **_FUZZ)
settings.load_profile(os.environ.get("SERVREGISTRY_HYPOTHESIS", "ci"))
