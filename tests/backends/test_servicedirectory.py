"""Service Directory specifics: the backend over the official client and real gRPC, against
the emulator."""

from __future__ import annotations

import pickle

import grpc
import pytest

from servregistry import Broker, Endpoint, Namespace, Service, errors, open_registry
from servregistry.backends.servicedirectory import ServiceDirectoryRegistry
from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator
from servregistry.registry import EndpointChanges
from tests.fixtures.servers import free_port

OWNER = {"owner": "cnwan-operator"}


@pytest.fixture
def reg(servicedirectory_registry: ServiceDirectoryRegistry) -> ServiceDirectoryRegistry:
    servicedirectory_registry.create_ns(Namespace("prod", OWNER))
    servicedirectory_registry.create_serv(Service("web", "prod", OWNER))
    return servicedirectory_registry


def test_endpoints_read_back_address_and_port_so_a_rerun_writes_nothing(
    reg: ServiceDirectoryRegistry, servicedirectory_emulator: ServiceDirectoryEmulator
) -> None:
    desired = [
        Endpoint("a", "prod", "web", "10.0.0.1", 80, {"zone": "x"}),
        Endpoint("b", "prod", "web", "2001:db8::2", 443),
    ]
    broker = Broker(reg)
    assert broker.manage_serv_endps("prod", "web", desired) == {}
    assert reg.get_endp("prod", "web", "b") == Endpoint(
        "b", "prod", "web", "2001:db8::2", 443, OWNER
    )
    calls = dict(servicedirectory_emulator.calls)
    assert broker.manage_serv_endps("prod", "web", desired) == {}
    after = servicedirectory_emulator.calls
    writes = ("CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint")
    assert all(after[w] == calls.get(w, 0) for w in writes)  # the seed updated every time


@pytest.mark.parametrize(
    ("obj", "field", "rule"),
    [
        (Namespace("prod2", {"cnwan.io/team": "a"}), "namespace.metadata", "labels"),
        (Namespace("Prod"), "namespace.name", "RFC 1035"),
        (Service("web_api", "prod"), "service.name", "RFC 1035"),
        (Service("api", "prod", {"k": "v" * 2000}), "service.metadata", "at most 2000"),
        (Service("api", "prod", {"googleapis.com/x": "1"}), "service.metadata", "reserved"),
    ],
)
def test_bad_ids_and_metadata_fail_before_any_write(
    reg: ServiceDirectoryRegistry,
    servicedirectory_emulator: ServiceDirectoryEmulator,
    obj: Namespace | Service,
    field: str,
    rule: str,
) -> None:
    before = dict(servicedirectory_emulator.calls)
    broker = Broker(reg)
    with pytest.raises(errors.InvalidInputError) as caught:
        broker.manage_ns(obj) if isinstance(obj, Namespace) else broker.manage_serv(obj)
    assert caught.value.field == field
    assert rule in caught.value.rule
    after = servicedirectory_emulator.calls
    assert all(after[k] == before.get(k, 0) for k in after if k.startswith(("Create", "Update")))


def test_endpoint_annotations_limit(reg: ServiceDirectoryRegistry) -> None:
    big = Endpoint("e", "prod", "web", "10.0.0.1", 1, {"k": "v" * 500})
    with pytest.raises(errors.InvalidInputError, match="at most 512"):
        Broker(reg).manage_serv_endps("prod", "web", [big])
    assert reg.list_endp("prod", "web") == []


def test_deadlines_are_registry_timeouts() -> None:
    slow = ServiceDirectoryEmulator(latency_ms=500)
    port = slow.start()
    reg = ServiceDirectoryRegistry("p", "r", endpoint=f"127.0.0.1:{port}", timeout=0.1)
    try:
        with pytest.raises(errors.RegistryTimeoutError):
            reg.get_ns("prod")
        with pytest.raises(errors.RegistryTimeoutError):
            reg.list_ns()  # list calls too (the pager fetches while iterating)
    finally:
        reg.close()
        slow.stop()


def test_unavailable_is_retried_and_other_failures_map_onto_the_error_tree(
    reg: ServiceDirectoryRegistry, servicedirectory_emulator: ServiceDirectoryEmulator
) -> None:
    before = servicedirectory_emulator.calls["GetNamespace"]
    servicedirectory_emulator.fail_next("GetNamespace", grpc.StatusCode.UNAVAILABLE, times=2)
    assert reg.get_ns("prod") == Namespace("prod", OWNER)
    assert servicedirectory_emulator.calls["GetNamespace"] == before + 3

    servicedirectory_emulator.fail_next("CreateService", grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(errors.BackendError, match="injected failure of CreateService") as caught:
        reg.create_serv(Service("api", "prod", OWNER))
    assert isinstance(caught.value.__cause__, Exception)
    with pytest.raises(errors.NotFoundError):
        reg.get_serv("prod", "api")  # the refused create wrote nothing
    reg.create_serv(Service("api", "prod", OWNER))  # and a retry converges
    assert reg.get_serv("prod", "api") == Service("api", "prod", OWNER)


def test_missing_objects_and_parents(reg: ServiceDirectoryRegistry) -> None:
    with pytest.raises(errors.NotFoundError):
        reg.get_serv("prod", "nope")
    with pytest.raises(errors.ParentNotFoundError, match="nope"):
        reg.create_endp(Endpoint("e", "prod", "nope", "10.0.0.1", 1))
    with pytest.raises(errors.AlreadyExistsError):
        reg.create_serv(Service("web", "prod"))


def test_forced_removal_and_cascade(reg: ServiceDirectoryRegistry) -> None:
    reg.create_endp(Endpoint("e", "prod", "web", "10.0.0.1", 1, OWNER))
    Broker(reg).remove_ns("prod", force_not_empty=True)
    assert reg.list_ns() == []


def test_url_and_pickling(servicedirectory_server: str) -> None:
    reg = open_registry(f"servicedirectory://proj/eu-west1?endpoint={servicedirectory_server}")
    assert isinstance(reg, ServiceDirectoryRegistry)
    assert (reg.project, reg.region, reg.endpoint) == ("proj", "eu-west1", servicedirectory_server)
    reg.list_ns()
    copy = pickle.loads(pickle.dumps(reg))
    assert copy._client is None and copy.project == "proj"
    assert reg.native_id(Service("web", "prod")) == (
        "projects/proj/locations/eu-west1/namespaces/prod/services/web"
    )
    reg.close()
    with pytest.raises(errors.InvalidInputError, match="unknown"):
        open_registry("servicedirectory://p/r?credentials=x")


def test_endpoint_sets_report_their_plan_and_progress(
    servicedirectory_server: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("servregistry.backends.base.PROGRESS_EVERY", 0.0)
    reg = ServiceDirectoryRegistry(
        "p-progress", "r", endpoint=servicedirectory_server, concurrency=2
    )
    broker = Broker(reg)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    desired = [Endpoint(f"e{i}", "prod", "web", f"10.0.0.{i}", 80) for i in range(6)]
    with caplog.at_level("INFO", logger="servregistry"):
        assert broker.manage_serv_endps("prod", "web", desired) == {}
        assert broker.manage_serv_endps("prod", "web", desired) == {}  # no change: silent
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (
        "prod/web: 6 endpoint(s) to create, 0 to update, 0 to delete (0 unchanged, "
        "0 foreign left alone)"
    )
    assert [line.split(",")[0] for line in lines[1:-1]] == [
        f"prod/web endpoints: {k} of 6 done" for k in range(1, 6)
    ]
    assert lines[-1].startswith("prod/web: 6 endpoint write(s) in ")
    assert lines[-1].endswith(", 0 failed")
    Broker(reg).remove_ns("prod", force_not_empty=True)
    reg.close()


def test_an_unreachable_registry_stops_an_endpoint_set_early() -> None:
    """Nothing listens: the first writes fail as unreachable, the rest are not attempted (and
    say so) instead of each trying again."""
    reg = ServiceDirectoryRegistry(
        "p", "r", endpoint=f"127.0.0.1:{free_port()}", concurrency=2, timeout=0.3
    )
    attempted: list[str] = []
    create = reg.create_endp

    def counting_create(endp: Endpoint) -> Endpoint:
        attempted.append(endp.name)
        return create(endp)

    reg.create_endp = counting_create  # type: ignore[method-assign]
    desired = [Endpoint(f"e{i:02d}", "prod", "web", "10.0.0.1", i) for i in range(20)]
    try:
        changes = EndpointChanges("prod", "web", create=desired, current={})
        failures = reg.apply_endpoint_changes(changes)
    finally:
        reg.close()
    assert sorted(failures) == [e.name for e in desired]
    assert all(isinstance(exc, errors.RegistryUnavailableError) for exc in failures.values())
    assert 1 <= len(attempted) <= 4
    skipped = [n for n, exc in failures.items() if str(exc).startswith("not attempted: ")]
    assert len(skipped) == 20 - len(attempted)


def test_a_lone_surrogate_is_refused_before_any_write(
    reg: ServiceDirectoryRegistry, servicedirectory_emulator: ServiceDirectoryEmulator
) -> None:
    """Text Python decoded with ``surrogateescape`` cannot be sent (it is not UTF-8). Before,
    the other changes of the set were applied and then one write failed with a raw
    UnicodeEncodeError; now the set is refused whole, naming the field. (``model_copy`` skips
    the model's own checks, so this is the backend's rule at work.)"""
    broker = Broker(reg)
    desired = [Endpoint(f"e{i}", "prod", "web", "10.0.0.1", 80 + i) for i in range(4)]
    assert broker.manage_serv_endps("prod", "web", desired) == {}
    changed = [e.model_copy(update={"port": 9000}) for e in desired]
    changed[2] = changed[2].model_copy(update={"metadata": {"path": "/srv/\udc80"}})
    writes = ("CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint")
    before = {w: servicedirectory_emulator.calls[w] for w in writes}
    with pytest.raises(errors.InvalidInputError) as caught:
        broker.manage_serv_endps(
            "prod", "web", [*changed, Endpoint("new", "prod", "web", "10.0.0.9", 1)]
        )
    assert caught.value.field == "endpoint.metadata"
    assert "lone surrogate (U+DC80" in caught.value.rule
    assert {w: servicedirectory_emulator.calls[w] for w in writes} == before
    assert [e.port for e in reg.list_endp("prod", "web")] == [80, 81, 82, 83]

    service = Service("api", "prod").model_copy(update={"metadata": {"note": "\udc80"}})
    with pytest.raises(errors.InvalidInputError, match="U\\+DC80"):
        broker.manage_serv(service)
    with pytest.raises(errors.InvalidInputError, match="RFC 1035"):
        broker.manage_serv(Service("api", "prod").model_copy(update={"name": "a\udc80"}))
    assert [s.name for s in reg.list_serv("prod")] == ["web"]
    # reads of such a name: an input error too, never a raw UnicodeEncodeError
    with pytest.raises(errors.InvalidInputError, match="not valid Unicode"):
        reg.get_serv("prod", "a\udc80")
