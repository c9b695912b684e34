"""Fuzz the Broker over every backend on its real server (SQLite, etcd, Cloud Map on moto,
Service Directory on our emulator): each generated namespace, service and endpoint set is either
accepted and read back exactly, or refused with a servregistry error, and then the registry
holds exactly what it held before (nothing was written). Accepted objects are removed again, so
each example starts from an empty registry."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.registry import ServiceRegistry
from tests.fixtures.fuzz import (
    Tally,
    endpoint_specs,
    examples,
    metadata,
    names,
    snapshot,
    tally_fixture,  # noqa: F401 - the fixture
)

OWNER = {"owner": "cnwan-operator"}

#: examples per backend: the cloud servers answer more slowly, so they get fewer
EXAMPLES = {"sqlite": 120, "etcd": 100, "cloudmap": 30, "servicedirectory": 60}

Spec = tuple[str, str, int, dict[str, str]]


def _attempt(registry: ServiceRegistry, tally: Tally, call: object) -> object | None:
    """Run ``call``; on a servregistry error check that nothing was written and return None."""
    before = snapshot(registry)
    try:
        return call()  # type: ignore[operator]
    except errors.ServiceRegistryError as exc:
        assert snapshot(registry) == before, f"{exc!r} after a write"
        str(exc).encode("utf-8")
        tally.refuse(exc)
        return None


def _fuzz(
    registry: ServiceRegistry,
    tally: Tally,
    ns_name: str,
    ns_meta: dict[str, str],
    serv_name: str,
    serv_meta: dict[str, str],
    specs: list[Spec],
) -> None:
    tally.example()
    broker = Broker(registry)
    assert snapshot(registry) == {}
    try:
        ns = _attempt(registry, tally, lambda: broker.manage_ns(Namespace(ns_name, ns_meta)))
        if ns is None:
            return
        assert registry.get_ns(ns_name).metadata == {**ns_meta, **OWNER}
        tally.accept()
        serv = _attempt(
            registry, tally, lambda: broker.manage_serv(Service(serv_name, ns_name, serv_meta))
        )
        if serv is None:
            return
        assert registry.get_serv(ns_name, serv_name).metadata == {**serv_meta, **OWNER}
        tally.accept()

        def endpoints() -> dict[str, errors.ServiceRegistryError]:
            desired = [Endpoint(n, ns_name, serv_name, a, p, m) for n, a, p, m in specs]
            return broker.manage_serv_endps(ns_name, serv_name, desired)

        failures = _attempt(registry, tally, endpoints)
        if failures is None:
            return
        assert failures == {}
        held = {
            e.name: (e.address, e.port, e.metadata) for e in registry.list_endp(ns_name, serv_name)
        }
        assert held == {n: (a, p, {**m, **OWNER}) for n, a, p, m in specs}
        tally.accept()
    finally:
        with contextlib.suppress(errors.InvalidInputError):
            broker.remove_ns(ns_name, force_not_empty=True)
        assert snapshot(registry) == {}


def _target(backend: str) -> Callable[..., None]:
    @settings(max_examples=examples(EXAMPLES[backend]))
    @given(
        ns_name=names,
        ns_meta=metadata,
        serv_name=names,
        serv_meta=metadata,
        specs=endpoint_specs,
    )
    def test(
        request: pytest.FixtureRequest,
        tally: Tally,
        ns_name: str,
        ns_meta: dict[str, str],
        serv_name: str,
        serv_meta: dict[str, str],
        specs: list[Spec],
    ) -> None:
        registry = request.getfixturevalue(f"{backend}_registry")
        _fuzz(registry, tally, ns_name, ns_meta, serv_name, serv_meta, specs)

    test.__name__ = f"test_broker_on_{backend}"
    return test


test_broker_on_sqlite = _target("sqlite")
test_broker_on_etcd = _target("etcd")
test_broker_on_cloudmap = _target("cloudmap")
test_broker_on_servicedirectory = _target("servicedirectory")
