"""The ``ServiceRegistry`` contract (``servregistry.registry``), one suite run on every backend
in the style of fsspec's abstract tests: what the Broker relies on, checked on each real
registry directly, without the Broker in between."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from servregistry import Endpoint, Namespace, Service, errors
from servregistry.registry import BatchEndpointWriter, EndpointChanges, ServiceRegistry

META = {"owner": "someone", "team": "core"}


def _tree(reg: ServiceRegistry) -> None:
    """``prod`` with ``web`` (two endpoints) and the sibling ``prod-eu`` with ``web``."""
    for ns in ("prod", "prod-eu"):
        reg.create_ns(Namespace(ns, META))
        reg.create_serv(Service("web", ns, META))
    for i in (1, 2):
        reg.create_endp(Endpoint(f"web-{i}", "prod", "web", f"10.0.0.{i}", 80, META))
    reg.create_endp(Endpoint("web-1", "prod-eu", "web", "10.1.0.1", 80, META))


class TestServiceRegistryContract:
    """Run against the ``registry`` fixture: a fresh, empty registry of each backend."""

    def test_a_registry_implements_the_protocol(self, registry: ServiceRegistry) -> None:
        assert isinstance(registry, ServiceRegistry)

    def test_getting_a_missing_object_is_not_found(self, registry: ServiceRegistry) -> None:
        for get in (
            lambda: registry.get_ns("nope"),
            lambda: registry.get_serv("nope", "web"),
            lambda: registry.get_endp("nope", "web", "e"),
        ):
            with pytest.raises(errors.NotFoundError):
                get()

    def test_create_returns_what_get_and_list_return(self, registry: ServiceRegistry) -> None:
        ns = registry.create_ns(Namespace("prod", META))
        serv = registry.create_serv(Service("web", "prod", META))
        endp = registry.create_endp(Endpoint("e1", "prod", "web", "10.0.0.1", 8080, META))
        assert ns == registry.get_ns("prod") == Namespace("prod", META)
        assert serv == registry.get_serv("prod", "web") == Service("web", "prod", META)
        assert endp == registry.get_endp("prod", "web", "e1")
        assert (endp.address, endp.port, endp.metadata) == ("10.0.0.1", 8080, META)
        assert [n.name for n in registry.list_ns()] == ["prod"]
        assert registry.list_serv("prod") == [serv]
        assert registry.list_endp("prod", "web") == [endp]

    def test_creating_an_existing_object_is_already_exists(self, registry: ServiceRegistry) -> None:
        _tree(registry)
        with pytest.raises(errors.AlreadyExistsError):
            registry.create_ns(Namespace("prod", {"other": "x"}))
        with pytest.raises(errors.AlreadyExistsError):
            registry.create_serv(Service("web", "prod", {"other": "x"}))
        with pytest.raises(errors.AlreadyExistsError):
            registry.create_endp(Endpoint("web-1", "prod", "web", "10.9.9.9", 1, {"o": "x"}))
        assert registry.get_ns("prod").metadata == META
        assert registry.get_endp("prod", "web", "web-1").address == "10.0.0.1"

    def test_creating_under_a_missing_parent_is_parent_not_found(
        self, registry: ServiceRegistry
    ) -> None:
        with pytest.raises(errors.ParentNotFoundError):
            registry.create_serv(Service("web", "nope", META))
        registry.create_ns(Namespace("prod", META))
        with pytest.raises(errors.ParentNotFoundError):
            registry.create_endp(Endpoint("e", "prod", "nope", "10.0.0.1", 80, META))
        assert registry.list_serv("prod") == []

    def test_update_replaces_metadata_whole(self, registry: ServiceRegistry) -> None:
        _tree(registry)
        new = {"owner": "someone", "tier": "gold"}
        assert registry.update_ns(Namespace("prod", new)).metadata == new
        assert registry.update_serv(Service("web", "prod", new)).metadata == new
        moved = Endpoint("web-1", "prod", "web", "10.0.0.9", 81, new)
        assert registry.update_endp(moved) == moved
        assert registry.get_ns("prod").metadata == new  # "team" is gone
        assert registry.get_serv("prod", "web").metadata == new
        assert registry.get_endp("prod", "web", "web-1") == moved
        assert registry.get_ns("prod-eu").metadata == META  # the sibling is untouched

    def test_updating_a_missing_object_is_not_found(self, registry: ServiceRegistry) -> None:
        registry.create_ns(Namespace("prod", META))
        registry.create_serv(Service("web", "prod", META))
        with pytest.raises(errors.NotFoundError):
            registry.update_ns(Namespace("nope", META))
        with pytest.raises(errors.NotFoundError):
            registry.update_serv(Service("nope", "prod", META))
        with pytest.raises(errors.NotFoundError):
            registry.update_endp(Endpoint("nope", "prod", "web", "10.0.0.1", 80, META))
        assert registry.list_endp("prod", "web") == []

    def test_deleting_a_missing_object_is_not_found(self, registry: ServiceRegistry) -> None:
        _tree(registry)
        with pytest.raises(errors.NotFoundError):
            registry.delete_endp("prod", "web", "nope")
        with pytest.raises(errors.NotFoundError):
            registry.delete_serv("prod", "nope")
        with pytest.raises(errors.NotFoundError):
            registry.delete_ns("nope")
        assert len(registry.list_endp("prod", "web")) == 2

    def test_deleting_a_leaf_removes_only_it(self, registry: ServiceRegistry) -> None:
        _tree(registry)
        registry.delete_endp("prod", "web", "web-1")
        assert [e.name for e in registry.list_endp("prod", "web")] == ["web-2"]
        assert [e.name for e in registry.list_endp("prod-eu", "web")] == ["web-1"]

    def test_deleting_a_parent_takes_its_children_or_refuses_never_a_sibling(
        self, registry: ServiceRegistry
    ) -> None:
        _tree(registry)
        try:
            registry.delete_ns("prod")
        except errors.NotEmptyError:  # the clouds refuse a parent that is not empty
            assert len(registry.list_endp("prod", "web")) == 2
        else:
            assert [n.name for n in registry.list_ns()] == ["prod-eu"]
        assert [e.address for e in registry.list_endp("prod-eu", "web")] == ["10.1.0.1"]
        assert registry.get_serv("prod-eu", "web").metadata == META

    def test_lists_hold_direct_children_only(self, registry: ServiceRegistry) -> None:
        _tree(registry)
        assert sorted(n.name for n in registry.list_ns()) == ["prod", "prod-eu"]
        assert [s.name for s in registry.list_serv("prod")] == ["web"]
        assert sorted(e.name for e in registry.list_endp("prod", "web")) == ["web-1", "web-2"]

    def test_calls_from_many_threads_at_once(self, registry: ServiceRegistry) -> None:
        registry.create_ns(Namespace("prod", META))
        registry.create_serv(Service("web", "prod", META))
        endpoints = [
            Endpoint(f"e{i}", "prod", "web", f"10.0.1.{i}", 80, META) for i in range(1, 25)
        ]
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(registry.create_endp, endpoints))
        assert created == endpoints
        assert sorted(registry.list_endp("prod", "web"), key=lambda e: e.name) == sorted(
            endpoints, key=lambda e: e.name
        )

    def test_validate_accepts_a_plain_object(self, registry: ServiceRegistry) -> None:
        registry.validate(Endpoint("e1", "prod", "web", "10.0.0.1", 80, META))
        registry.validate(Service("web", "prod", META))
        registry.validate(Namespace("prod", META))

    def test_a_batch_never_writes_beyond_the_listing_it_was_computed_from(
        self, registry: ServiceRegistry
    ) -> None:
        if not isinstance(registry, BatchEndpointWriter):
            pytest.skip("this backend writes endpoint sets one call per endpoint")
        _tree(registry)
        listed = {e.name: e for e in registry.list_endp("prod", "web")}
        del listed["web-2"]  # as if web-2 appeared after the listing
        failures = registry.apply_endpoint_changes(
            EndpointChanges(
                "prod",
                "web",
                create=[Endpoint("web-3", "prod", "web", "10.0.0.3", 80, META)],
                delete=["web-2"],
                current=listed,
            )
        )
        assert set(failures) == {"web-2"}
        assert isinstance(failures["web-2"], errors.ConflictError)
        assert sorted(e.name for e in registry.list_endp("prod", "web")) == [
            "web-1",
            "web-2",
            "web-3",
        ]
