"""Cloud Map specifics, through boto3 over HTTP against moto in server mode."""

from __future__ import annotations

from typing import Any

import pytest

from servregistry import Broker, Endpoint, Namespace, Service, errors, open_registry
from servregistry.backends.cloudmap import CloudMapRegistry
from servregistry.backends.cloudmap.api import BOTOCORE_ATTEMPTS
from tests.fixtures.cloudmap import REGION, moto_backend
from tests.fixtures.servers import free_port

OWNER = {"owner": "cnwan-operator"}


@pytest.fixture
def raw(cloudmap_raw: Any) -> Any:
    return cloudmap_raw


@pytest.fixture
def reg(cloudmap_registry: CloudMapRegistry) -> CloudMapRegistry:
    cloudmap_registry.create_ns(Namespace("prod", {"team": "a", **OWNER}))
    cloudmap_registry.create_serv(Service("web", "prod", {"tier": "1", **OWNER}))
    return cloudmap_registry


def tags(raw: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.list_tags_for_resource(ResourceARN=arn)["Tags"]}


def test_removing_a_metadata_key_removes_the_tag(reg: CloudMapRegistry, raw: Any) -> None:
    reg.update_serv(Service("web", "prod", {"tier": "2", **OWNER}))
    arn = next(s["Arn"] for s in raw.list_services()["Services"] if s["Name"] == "web")
    assert tags(raw, arn) == {"tier": "2", **OWNER}
    reg.update_ns(Namespace("prod", OWNER))
    ns_arn = raw.list_namespaces()["Namespaces"][0]["Arn"]
    assert tags(raw, ns_arn) == OWNER
    # so the Broker's comparison converges: a second manage changes nothing
    assert Broker(reg).manage_ns(Namespace("prod")) == Namespace("prod", OWNER)


def test_lists_longer_than_a_page_are_complete(
    cloudmap_registry: CloudMapRegistry, raw: Any
) -> None:
    reg = CloudMapRegistry(REGION, endpoint_url=cloudmap_registry.endpoint_url, page_size=5)
    names = [f"ns-{i:02d}" for i in range(12)]
    for name in names:
        reg.create_ns(Namespace(name))
    first_page = raw.list_namespaces(MaxResults=5)
    assert len(first_page["Namespaces"]) == 5 and "NextToken" in first_page  # the server pages
    assert [n.name for n in reg.list_ns()] == names
    for i in range(12):
        reg.create_serv(Service(f"s{i:02d}", "ns-03"))
        reg.create_endp(Endpoint(f"e{i:02d}", "ns-03", "s00", "10.0.0.1", i))
    assert len(reg.list_serv("ns-03")) == 12
    assert len(reg.list_endp("ns-03", "s00")) == 12
    reg.close()


def test_ipv6_endpoint_round_trips(reg: CloudMapRegistry, raw: Any) -> None:
    reg.create_endp(Endpoint("v6", "prod", "web", "2001:db8::7", 443, {"zone": "a"}))
    serv_id = next(s["Id"] for s in raw.list_services()["Services"] if s["Name"] == "web")
    attributes = raw.get_instance(ServiceId=serv_id, InstanceId="v6")["Instance"]["Attributes"]
    assert attributes == {
        "AWS_INSTANCE_IPV6": "2001:db8::7",
        "AWS_INSTANCE_PORT": "443",
        "zone": "a",
    }
    assert reg.get_endp("prod", "web", "v6") == Endpoint(
        "v6", "prod", "web", "2001:db8::7", 443, {"zone": "a"}
    )


@pytest.mark.parametrize(
    ("endpoint", "field", "rule"),
    [
        (Endpoint("e" * 65, "prod", "web", "10.0.0.1", 1), "endpoint.name", "1-64"),
        (
            Endpoint("e", "prod", "web", "10.0.0.1", 1, {f"k{i}": "v" for i in range(31)}),
            "endpoint.metadata",
            "at most 30",
        ),
        (
            Endpoint(
                "e",
                "prod",
                "web",
                "10.0.0.1",
                1,
                {"k": "v" * 1000, **{f"k{i}": "v" * 1000 for i in range(4)}},
            ),
            "endpoint.metadata",
            "5000",
        ),
        (
            Endpoint("e", "prod", "web", "10.0.0.1", 1, {"AWS_INSTANCE_PORT": "2"}),
            "endpoint.metadata['AWS_INSTANCE_PORT']",
            "Cloud Map's own",
        ),
        (
            Endpoint("e", "prod", "web", "10.0.0.1", 1, {"k": " padded"}),
            "endpoint.metadata['k']",
            "not starting with a space",
        ),
    ],
)
def test_bad_endpoints_fail_before_any_write(
    reg: CloudMapRegistry, endpoint: Endpoint, field: str, rule: str
) -> None:
    good = Endpoint("good", "prod", "web", "10.0.0.2", 2)
    with pytest.raises(errors.InvalidInputError) as caught:
        Broker(reg).manage_serv_endps("prod", "web", [good, endpoint])
    assert caught.value.field.startswith(field.split("[")[0])
    assert field in str(caught.value) or caught.value.field == field
    assert rule in caught.value.rule
    assert reg.list_endp("prod", "web") == []  # not even the good one was written


def test_bad_names_and_tags_fail_before_any_write(reg: CloudMapRegistry) -> None:
    with pytest.raises(errors.InvalidInputError, match="1-1024"):
        Broker(reg).manage_ns(Namespace("no spaces"))
    with pytest.raises(errors.InvalidInputError, match="aws:"):
        Broker(reg).manage_serv(Service("api", "prod", {"aws:x": "1"}))
    with pytest.raises(errors.InvalidInputError, match="at most 50 tags"):
        Broker(reg).manage_serv(Service("api", "prod", {f"t{i}": "v" for i in range(50)}))
    assert [n.name for n in reg.list_ns()] == ["prod"]
    assert [s.name for s in reg.list_serv("prod")] == ["web"]


def test_operations_fail_and_time_out_as_errors(reg: CloudMapRegistry, raw: Any) -> None:
    op_id = raw.create_http_namespace(Name="slow")["OperationId"]
    operation = moto_backend().operations[op_id]
    operation.status = "PENDING"
    short = CloudMapRegistry(REGION, endpoint_url=reg.endpoint_url, operation_timeout=0.3)
    with pytest.raises(errors.RegistryTimeoutError, match="PENDING"):
        short._api.wait(op_id)
    operation.status = "FAIL"
    operation.error_code = "CANNOT_CREATE_HOSTED_ZONE"
    operation.error_message = "a conflicting domain exists"
    original = type(operation).to_json

    def to_json(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        data = dict(original(self, *args, **kwargs))
        if self is operation:
            data.update(ErrorCode=self.error_code, ErrorMessage=self.error_message)
        return data

    type(operation).to_json = to_json  # type: ignore[method-assign]
    try:
        with pytest.raises(errors.BackendError, match=r"CANNOT_CREATE_HOSTED_ZONE.*conflicting"):
            short._api.wait(op_id)
    finally:
        type(operation).to_json = original  # type: ignore[method-assign]
        short.close()


def test_throttling_is_retried(reg: CloudMapRegistry) -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.servicediscovery import responses

    cls = responses.ServiceDiscoveryResponse
    original = cls.list_tags_for_resource
    calls: list[int] = []

    def throttled(self: Any) -> Any:
        calls.append(1)
        if len(calls) <= BOTOCORE_ATTEMPTS + 2:  # beyond botocore's own retries
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        return original(self)

    cls.list_tags_for_resource = throttled  # type: ignore[method-assign]
    try:
        assert reg.get_ns("prod").metadata == {"team": "a", **OWNER}
    finally:
        cls.list_tags_for_resource = original  # type: ignore[method-assign]
    assert len(calls) == BOTOCORE_ATTEMPTS + 3


def test_a_refused_connection_fails_after_botocores_few_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reg = CloudMapRegistry(REGION, endpoint_url=f"http://127.0.0.1:{free_port()}")
    sent: list[str] = []
    reg.client.meta.events.register(
        "before-send.servicediscovery", lambda request, **_: sent.append(request.url)
    )
    try:
        with pytest.raises(errors.RegistryUnavailableError, match="Could not connect"):
            reg.list_ns()
    finally:
        reg.close()
    assert len(sent) == BOTOCORE_ATTEMPTS  # not repeated like throttling


def test_forced_removal_deregisters_instances_before_deleting(reg: CloudMapRegistry) -> None:
    for i in range(3):
        reg.create_endp(Endpoint(f"e{i}", "prod", "web", "10.0.0.1", i, OWNER))
    seen: list[str] = []
    reg.client.meta.events.register(
        "before-call.servicediscovery", lambda model, **_: seen.append(model.name)
    )
    Broker(reg).remove_ns("prod", force_not_empty=True)
    assert reg.list_ns() == []
    mutating = [op for op in seen if op.startswith(("Deregister", "Delete"))]
    assert mutating[-2:] == ["DeleteService", "DeleteNamespace"]
    assert mutating.count("DeregisterInstance") == 3


def test_ids_are_re_resolved_after_a_delete_and_recreate_elsewhere(
    reg: CloudMapRegistry, cloudmap_server: str
) -> None:
    assert reg.get_ns("prod").name == "prod"  # ids cached
    other = CloudMapRegistry(REGION, endpoint_url=cloudmap_server)
    other.delete_serv("prod", "web")
    other.delete_ns("prod")
    other.create_ns(Namespace("prod", {"fresh": "yes"}))
    other.close()
    assert reg.get_ns("prod").metadata == {"fresh": "yes"}
    reg.create_serv(Service("api", "prod"))
    assert [s.name for s in reg.list_serv("prod")] == ["api"]


def test_url_and_pickling(cloudmap_server: str) -> None:
    import pickle

    reg = open_registry(f"cloudmap://{REGION}?endpoint_url={cloudmap_server}&concurrency=4")
    assert isinstance(reg, CloudMapRegistry) and reg.concurrency == 4
    reg.list_ns()  # builds the client
    copy = pickle.loads(pickle.dumps(reg))
    assert copy.region == REGION and copy._api._client is None
    with pytest.raises(errors.InvalidInputError, match="unknown"):
        open_registry("cloudmap://eu-west-1?secret_key=x")


def test_endpoint_sets_start_every_write_then_await_the_operations_together(
    reg: CloudMapRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operations stay PENDING for their first poll (as real ones do for a while); one of them
    then FAILs. Every RegisterInstance goes out before the first poll, the failure lands on its
    endpoint only, and the rest are written."""
    from moto.servicediscovery import models

    polls: dict[str, int] = {}
    original = models.ServiceDiscoveryBackend.get_operation

    def get_operation(self: Any, operation_id: str) -> Any:
        operation = original(self, operation_id)
        polls[operation_id] = polls.get(operation_id, 0) + 1
        doomed = operation.targets.get("INSTANCE") == "e07"
        operation.status = {1: "PENDING", 2: "FAIL" if doomed else "SUCCESS"}.get(
            polls[operation_id], operation.status
        )
        return operation

    monkeypatch.setattr(models.ServiceDiscoveryBackend, "get_operation", get_operation)
    reg.concurrency = 3
    seen: list[str] = []
    reg.client.meta.events.register(
        "before-call.servicediscovery", lambda model, **_: seen.append(model.name)
    )
    desired = [Endpoint(f"e{i:02d}", "prod", "web", "10.0.0.1", i) for i in range(12)]
    failures = Broker(reg).manage_serv_endps("prod", "web", desired)
    assert list(failures) == ["e07"]
    assert isinstance(failures["e07"], errors.BackendError)
    assert "failed" in str(failures["e07"])
    writes = [op for op in seen if op in ("RegisterInstance", "GetOperation")]
    assert writes == ["RegisterInstance"] * 12 + ["GetOperation"] * 24  # two rounds of polls
    # moto registered e07 at once; its operation's FAIL is what the caller is told
    assert len(reg.list_endp("prod", "web")) == 12


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (Namespace("prod2").model_copy(update={"name": "pr\udc80"}), "namespace.name"),
        (
            Service("api", "prod").model_copy(update={"metadata": {"k": "\udc80"}}),
            "service.metadata['k']",
        ),
        (Service("api", "prod").model_copy(update={"name": "a\udc80"}), "service.name"),
    ],
)
def test_a_lone_surrogate_in_a_name_or_tag_is_refused_before_any_write(
    reg: CloudMapRegistry, obj: Namespace | Service, field: str
) -> None:
    broker = Broker(reg)
    with pytest.raises(errors.InvalidInputError) as caught:
        broker.manage_ns(obj) if isinstance(obj, Namespace) else broker.manage_serv(obj)
    assert caught.value.field == field
    assert [n.name for n in reg.list_ns()] == ["prod"]
    assert [s.name for s in reg.list_serv("prod")] == ["web"]


def test_a_lone_surrogate_in_an_endpoint_set_is_refused_before_any_write(
    reg: CloudMapRegistry,
) -> None:
    good = [Endpoint(f"e{i}", "prod", "web", "10.0.0.1", i) for i in range(3)]
    bad = Endpoint("bad", "prod", "web", "10.0.0.2", 1).model_copy(
        update={"metadata": {"path": "/srv/\udc80"}}
    )
    with pytest.raises(errors.InvalidInputError) as caught:
        Broker(reg).manage_serv_endps("prod", "web", [*good, bad])
    assert caught.value.field == "endpoint.metadata['path']"
    assert reg.list_endp("prod", "web") == []
    with pytest.raises(errors.NotFoundError):  # a read of such a name: not found, not a crash
        reg.get_endp("prod", "web", "b\udc80")
