"""Cloud Map fidelity: one test per rule of the Cloud Map API, each naming its source in the API
reference (the ``servicediscovery`` service model botocore ships carries that text) or the Cloud
Map quotas page.

Each test checks both sides: the backend refuses before writing anything (the registry is
unchanged) and the stand-in (moto, as ``servregistry.emulators.cloudmap`` makes it) refuses the
raw boto3 call, so a stand-in that drifts from the API fails here. Where the API accepts
something, both are shown to accept it too. boto3 against moto's server on loopback; the raw
client skips botocore's own parameter checks, so every request reaches the stand-in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.cloudmap import CloudMapRegistry
from tests.fixtures.cloudmap import REGION, moto_backend

OWNER = {"owner": "cnwan-operator"}
FOREIGN = {"owner": "someone-else"}


@pytest.fixture
def raw(cloudmap_raw: Any) -> Any:
    return cloudmap_raw


@pytest.fixture
def reg(cloudmap_registry: CloudMapRegistry) -> CloudMapRegistry:
    broker = Broker(cloudmap_registry)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    return cloudmap_registry


def refused(code: str, call: Callable[..., Any], **kwargs: Any) -> str:
    """Send a raw request the API refuses; return the stand-in's message after checking its
    error code is the API's."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == code, error
    return str(error.get("Message", ""))


def ids(raw: Any) -> tuple[str, str, str]:
    """The ids of namespace prod, its ARN, and the id of service web."""
    ns = next(n for n in raw.list_namespaces()["Namespaces"] if n["Name"] == "prod")
    services = raw.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns["Id"]]}])
    serv = next(s for s in services["Services"] if s["Name"] == "web")
    return ns["Id"], ns["Arn"], serv["Id"]


def state(raw: Any) -> dict[str, Any]:
    """Everything the registry holds: namespaces, services, instances and all their tags."""

    def tags(arn: str) -> dict[str, str]:
        listed = raw.list_tags_for_resource(ResourceARN=arn)["Tags"]
        return {t["Key"]: t["Value"] for t in listed}

    def every(operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        pages = raw.get_paginator(operation).paginate(**kwargs)
        return [item for page in pages for item in page[key]]

    found: dict[str, Any] = {}
    for ns in every("list_namespaces", "Namespaces"):
        found[ns["Name"]] = tags(ns["Arn"])
        in_ns = [{"Name": "NAMESPACE_ID", "Values": [ns["Id"]], "Condition": "EQ"}]
        for serv in every("list_services", "Services", Filters=in_ns):
            instances = every("list_instances", "Instances", ServiceId=serv["Id"])
            found[f"{ns['Name']}/{serv['Name']}"] = {
                "tags": tags(serv["Arn"]),
                "instances": {i["Id"]: i.get("Attributes", {}) for i in instances},
            }
    return found


def filler(total: int) -> dict[str, str]:
    """Custom attributes whose keys and values add up to exactly ``total`` characters."""
    metadata: dict[str, str] = {}
    index = 0
    while total > 0:
        key = f"k{index}"
        size = min(1024, total - len(key))
        metadata[key] = "v" * size
        total -= len(key) + size
        index += 1
    return metadata


def fill(serv_id: str, count: int) -> None:
    """Register ``count`` foreign instances straight into the stand-in's state (through its
    patched RegisterInstance, without a thousand HTTP round trips)."""
    backend = moto_backend()
    for i in range(count):
        backend.register_instance(
            service_id=serv_id,
            instance_id=f"f{i:04d}",
            creator_request_id=f"fill-{i}",
            attributes={"AWS_INSTANCE_IPV4": "10.9.0.1", **FOREIGN},
        )


def test_the_attribute_total_counts_the_address_and_port(reg: CloudMapRegistry, raw: Any) -> None:
    """RegisterInstance, Attributes: "The total size of all provided attributes (sum of all keys
    and values) must not exceed 5,000 characters" — all attributes, AWS_INSTANCE_IPV4 and
    AWS_INSTANCE_PORT with the address and port included."""
    address_and_port = len("AWS_INSTANCE_IPV410.0.0.1AWS_INSTANCE_PORT80")
    owner = sum(len(k) + len(v) for k, v in OWNER.items())
    at_limit = filler(5000 - address_and_port - owner)
    over = filler(5001 - address_and_port - owner)
    assert sum(len(k) + len(v) for k, v in over.items()) + owner < 5000  # metadata alone fits
    before = state(raw)
    with pytest.raises(errors.InvalidInputError) as caught:
        Broker(reg).manage_serv_endps(
            "prod", "web", [Endpoint("e", "prod", "web", "10.0.0.1", 80, over)]
        )
    assert caught.value.field == "endpoint.metadata"
    assert "5001 characters" in caught.value.rule and "AWS_INSTANCE_PORT" in caught.value.rule
    assert state(raw) == before
    fits = Endpoint("e", "prod", "web", "10.0.0.1", 80, at_limit)
    assert Broker(reg).manage_serv_endps("prod", "web", [fits]) == {}
    assert reg.get_endp("prod", "web", "e").metadata == {**at_limit, **OWNER}

    serv_id = ids(raw)[2]
    attributes = {**over, **OWNER, "AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}
    message = refused(
        "InvalidInput",
        raw.register_instance,
        ServiceId=serv_id,
        InstanceId="x",
        Attributes=attributes,
    )
    assert "5001" in message


def test_at_most_30_custom_attributes(reg: CloudMapRegistry, raw: Any) -> None:
    """RegisterInstance, Attributes: "You can add up to 30 custom attributes" (quotas page:
    "Custom attributes per instance: 30", not adjustable); the address and port attributes
    are not custom."""
    thirty = {f"k{i}": "v" for i in range(29)}  # and the owner pair
    before = state(raw)
    with pytest.raises(errors.InvalidInputError, match="at most 30 custom"):
        Broker(reg).manage_serv_endps(
            "prod", "web", [Endpoint("e", "prod", "web", "10.0.0.1", 1, {**thirty, "k29": "v"})]
        )
    assert state(raw) == before
    assert (
        Broker(reg).manage_serv_endps(
            "prod", "web", [Endpoint("e", "prod", "web", "10.0.0.1", 1, thirty)]
        )
        == {}
    )

    attributes = {**thirty, **OWNER, "k29": "v", "AWS_INSTANCE_IPV4": "10.0.0.1"}
    refused(
        "InvalidInput",
        raw.register_instance,
        ServiceId=ids(raw)[2],
        InstanceId="x",
        Attributes=attributes,
    )


def test_at_most_1000_instances_per_service_counting_foreign_ones(
    reg: CloudMapRegistry, raw: Any
) -> None:
    """Cloud Map quotas page: "Instances per service: 1,000", not adjustable
    (RegisterInstance: ResourceLimitExceeded). An endpoint set that would pass it, counting the
    instances of other owners, is refused as a whole before any write; one that fits only after
    its deregistrations (a swap at the quota) deregisters first."""
    serv_id = ids(raw)[2]
    fill(serv_id, 995)
    six = [Endpoint(f"e{i}", "prod", "web", "10.0.0.1", 8000 + i) for i in range(6)]
    before = state(raw)
    with pytest.raises(errors.InvalidInputError) as caught:
        Broker(reg).manage_serv_endps("prod", "web", six)
    assert caught.value.field == "endpoints"
    assert "1001 instances" in caught.value.rule and "Instances per service" in caught.value.rule
    assert state(raw) == before

    foreign = {f"f{i:04d}" for i in range(995)}  # reported as foreign, left alone
    assert set(Broker(reg).manage_serv_endps("prod", "web", six[:5])) == foreign
    swapped = [*six[:4], six[5]]  # e4 out, e5 in: still 1,000
    failures = Broker(reg).manage_serv_endps("prod", "web", swapped)
    assert set(failures) == foreign
    assert all(isinstance(f, errors.EndpointNotOwnedError) for f in failures.values())
    names = {e.name for e in reg.list_endp("prod", "web")}
    assert len(names) == 1000 and "e5" in names and "e4" not in names

    message = refused(
        "ResourceLimitExceeded",
        raw.register_instance,
        ServiceId=serv_id,
        InstanceId="one-more",
        Attributes={"AWS_INSTANCE_IPV4": "10.0.0.9"},
    )
    assert "1000" in message
    raw.register_instance(
        ServiceId=serv_id, InstanceId="e0", Attributes={"AWS_INSTANCE_IPV4": "10.0.0.2"}
    )


def test_at_most_50_tags_and_converging_never_holds_more(reg: CloudMapRegistry, raw: Any) -> None:
    """TooManyTagsException: "The maximum number of tags that can be applied to a resource is
    50" (TagResource, CreateHttpNamespace, CreateService). Replacing 49 tags (and the owner
    pair) by 49 others removes the old keys before adding the new ones, so the service never
    holds more than 50."""
    before = state(raw)
    with pytest.raises(errors.InvalidInputError, match="at most 50 tags"):
        Broker(reg).manage_serv(Service("api", "prod", {f"t{i}": "v" for i in range(50)}))
    with pytest.raises(errors.InvalidInputError, match="at most 50 tags"):
        Broker(reg).manage_ns(Namespace("dev", {f"t{i}": "v" for i in range(50)}))
    assert state(raw) == before

    Broker(reg).manage_serv(Service("web", "prod", {f"old{i}": "v" for i in range(49)}))
    new = {f"new{i}": "v" for i in range(49)}
    Broker(reg).manage_serv(Service("web", "prod", new))
    assert reg.get_serv("prod", "web").metadata == {**new, **OWNER}

    ns_id, _ns_arn, serv_id = ids(raw)
    serv_arn = raw.get_service(Id=serv_id)["Service"]["Arn"]
    refused(
        "TooManyTagsException",
        raw.tag_resource,
        ResourceARN=serv_arn,
        Tags=[{"Key": "one-more", "Value": ""}],
    )
    fifty_one = [{"Key": f"t{i}", "Value": "v"} for i in range(51)]
    refused(
        "TooManyTagsException", raw.create_service, Name="api", NamespaceId=ns_id, Tags=fifty_one
    )
    refused("TooManyTagsException", raw.create_http_namespace, Name="dev", Tags=fifty_one)
    assert [n.name for n in reg.list_ns()] == ["prod"]


def test_tag_keys_and_values(reg: CloudMapRegistry, raw: Any) -> None:
    """Tag: Key "Length Constraints: Minimum length of 1. Maximum length of 128", Value "Maximum
    length of 256"; keys starting ``aws:`` are reserved for AWS's use (TagResource)."""
    before = state(raw)
    for metadata in ({"k" * 129: "v"}, {"k": "v" * 257}, {"aws:team": "a"}):
        with pytest.raises(errors.InvalidInputError):
            Broker(reg).manage_serv(Service("web", "prod", metadata))
    assert state(raw) == before
    arn = raw.get_service(Id=ids(raw)[2])["Service"]["Arn"]
    for tag in (
        {"Key": "k" * 129, "Value": "v"},
        {"Key": "k", "Value": "v" * 257},
        {"Key": "aws:team", "Value": "a"},
    ):
        refused("InvalidInput", raw.tag_resource, ResourceARN=arn, Tags=[tag])
    assert state(raw) == before


def test_aws_attribute_keys_are_refused_and_read_back_as_stored(
    reg: CloudMapRegistry, raw: Any
) -> None:
    """RegisterInstance, Attributes: keys starting ``AWS_`` are Cloud Map's own ("the following
    are the supported attribute keys": AWS_ALIAS_DNS_NAME, AWS_EC2_INSTANCE_ID,
    AWS_INIT_HEALTH_STATUS, AWS_INSTANCE_CNAME, AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6,
    AWS_INSTANCE_PORT). The backend writes only the address and port ones, so every ``AWS_*``
    key in user metadata is refused; one another tool registered is read back as metadata,
    never dropped (so nothing drifts). The API takes such keys, so the stand-in must too."""
    before = state(raw)
    for key in ("AWS_INIT_HEALTH_STATUS", "AWS_CUSTOM", "AWS_INSTANCE_PORT"):
        with pytest.raises(errors.InvalidInputError) as caught:
            Broker(reg).manage_serv_endps(
                "prod", "web", [Endpoint("e", "prod", "web", "10.0.0.1", 1, {key: "HEALTHY"})]
            )
        assert caught.value.field == f"endpoint.metadata[{key!r}]"
        assert "Cloud Map's own" in caught.value.rule
    assert state(raw) == before

    attributes = {
        "AWS_INSTANCE_IPV4": "10.0.0.7",
        "AWS_INSTANCE_PORT": "81",
        "AWS_INIT_HEALTH_STATUS": "HEALTHY",
        "AWS_CUSTOM": "x",
        **FOREIGN,
    }
    raw.register_instance(ServiceId=ids(raw)[2], InstanceId="theirs", Attributes=attributes)
    theirs = reg.get_endp("prod", "web", "theirs")
    assert (theirs.address, theirs.port) == ("10.0.0.7", 81)
    assert theirs.metadata == {"AWS_INIT_HEALTH_STATUS": "HEALTHY", "AWS_CUSTOM": "x", **FOREIGN}


def test_namespace_names_follow_the_api_pattern(reg: CloudMapRegistry, raw: Any) -> None:
    """CreateHttpNamespace, Name: "Pattern: ^(?!arn:)[!-~]{1,1024}$" (1,024 printable ASCII
    characters, no space, not starting ``arn:``)."""
    broker = Broker(reg)
    for name in ("team~a", "a/b.c_d", "x" * 1024):
        broker.manage_ns(Namespace(name))
    before = state(raw)
    for name in ("arn:aws:team", "with space", "x" * 1025, "caf\u00e9"):
        with pytest.raises(errors.InvalidInputError) as caught:
            broker.manage_ns(Namespace(name))
        assert caught.value.field == "namespace.name"
        refused("InvalidInput", raw.create_http_namespace, Name=name)
    assert state(raw) == before
    raw.create_http_namespace(Name="team~b")


def test_service_names_follow_the_api_pattern(reg: CloudMapRegistry, raw: Any) -> None:
    """CreateService, Name: "Pattern: ((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}
    [a-zA-Z0-9_]|[a-zA-Z0-9])(\\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)
    |(^\\.$)": DNS-style labels of at most 63, 127 characters in all."""
    broker = Broker(reg)
    broker.manage_serv(Service("_http._tcp", "prod"))
    ns_id = ids(raw)[0]
    before = state(raw)
    for name in ("-web", "a..b", "we b", "x" * 64, ".".join(["abc"] * 33)):
        with pytest.raises(errors.InvalidInputError) as caught:
            broker.manage_serv(Service(name, "prod"))
        assert caught.value.field == "service.name"
        refused("InvalidInput", raw.create_service, Name=name, NamespaceId=ns_id)
    assert state(raw) == before


def test_instance_ids_follow_the_api_pattern(reg: CloudMapRegistry, raw: Any) -> None:
    """RegisterInstance, InstanceId: "Maximum length of 64. Pattern: ^[0-9a-zA-Z_/:.@-]+$"."""
    before = state(raw)
    for name in ("e" * 65, "has space", "caf\u00e9"):
        with pytest.raises(errors.InvalidInputError) as caught:
            Broker(reg).manage_serv_endps(
                "prod", "web", [Endpoint(name, "prod", "web", "10.0.0.1", 1)]
            )
        assert caught.value.field == "endpoint.name"
        refused(
            "InvalidInput",
            raw.register_instance,
            ServiceId=ids(raw)[2],
            InstanceId=name,
            Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1"},
        )
    assert state(raw) == before


def test_attribute_keys_and_values(reg: CloudMapRegistry, raw: Any) -> None:
    """RegisterInstance, Attributes: key "Maximum length of 255. Pattern: ^[a-zA-Z0-9!-~]+$",
    value "Maximum length of 1024. Pattern: ^([a-zA-Z0-9!-~][ \\ta-zA-Z0-9!-~]*){0,1}
    [a-zA-Z0-9!-~]{0,1}$" (spaces and tabs inside, not first)."""
    before = state(raw)
    bad = (
        {"k" * 256: "v"},
        {"k": "v" * 1025},
        {"k": " lead"},
        {"k": "\tlead"},
        {"k k": "v"},
        {"k": "caf\u00e9"},
    )
    for metadata in bad:
        with pytest.raises(errors.InvalidInputError) as caught:
            Broker(reg).manage_serv_endps(
                "prod", "web", [Endpoint("e", "prod", "web", "10.0.0.1", 1, metadata)]
            )
        assert caught.value.field.startswith("endpoint.metadata[")
        refused(
            "InvalidInput",
            raw.register_instance,
            ServiceId=ids(raw)[2],
            InstanceId="e",
            Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1", **metadata},
        )
    assert state(raw) == before
    accepted = {"k": "a\tb c ", "empty": "", "j": "v" * 1024}
    endpoint = Endpoint("e", "prod", "web", "10.0.0.1", 1, accepted)
    assert Broker(reg).manage_serv_endps("prod", "web", [endpoint]) == {}
    assert reg.get_endp("prod", "web", "e").metadata == {**accepted, **OWNER}


def test_page_sizes_are_1_to_100(reg: CloudMapRegistry, raw: Any) -> None:
    """ListNamespaces, ListServices, ListInstances, MaxResults: "Valid Range: Minimum value of 1.
    Maximum value of 100"; without it, "Cloud Map returns up to 100"."""
    for size in (0, 101):
        with pytest.raises(errors.InvalidInputError) as caught:
            CloudMapRegistry(REGION, endpoint_url=reg.endpoint_url, page_size=size)
        assert caught.value.field == "registry.page_size"
    serv_id = ids(raw)[2]
    for size in (0, 101):
        refused("InvalidInput", raw.list_namespaces, MaxResults=size)
        refused("InvalidInput", raw.list_services, MaxResults=size)
        refused("InvalidInput", raw.list_instances, ServiceId=serv_id, MaxResults=size)
    fill(serv_id, 101)
    first = raw.list_instances(ServiceId=serv_id)
    assert len(first["Instances"]) == 100 and "NextToken" in first
    assert len(raw.list_instances(ServiceId=serv_id, MaxResults=100)["Instances"]) == 100
    with CloudMapRegistry(REGION, endpoint_url=reg.endpoint_url, page_size=100) as paged:
        assert len(paged.list_endp("prod", "web")) == 101


def test_zone_scoped_ipv6_is_refused(reg: CloudMapRegistry, raw: Any) -> None:
    """RegisterInstance, Attributes, AWS_INSTANCE_IPV6: "the IPv6 address that you want Route 53
    to return in response to DNS queries": a DNS record holds no zone (``%eth0``). The API
    reference does not say whether an HTTP namespace checks it; the stand-in does (stricter)."""
    before = state(raw)
    with pytest.raises(errors.InvalidInputError) as caught:
        Broker(reg).manage_serv_endps(
            "prod", "web", [Endpoint("e", "prod", "web", "fe80::1%eth0", 1)]
        )
    assert caught.value.field == "endpoint.address" and "zone" in caught.value.rule
    assert state(raw) == before
    refused(
        "InvalidInput",
        raw.register_instance,
        ServiceId=ids(raw)[2],
        InstanceId="e",
        Attributes={"AWS_INSTANCE_IPV6": "fe80::1%eth0"},
    )
    assert (
        Broker(reg).manage_serv_endps("prod", "web", [Endpoint("e", "prod", "web", "fe80::1", 1)])
        == {}
    )


def test_a_service_or_namespace_that_is_not_empty_is_not_deleted(
    reg: CloudMapRegistry, raw: Any
) -> None:
    """DeleteService: "If the service still contains one or more registered instances, the
    request fails"; DeleteNamespace: "If the namespace still contains one or more services, the
    request fails" (ResourceInUse); DeleteService of a missing service: ServiceNotFound."""
    ns_id, _arn, serv_id = ids(raw)
    raw.register_instance(ServiceId=serv_id, InstanceId="theirs", Attributes=FOREIGN)
    before = state(raw)
    with pytest.raises(errors.ServiceNotEmptyError):
        reg.delete_serv("prod", "web")
    with pytest.raises(errors.NamespaceNotEmptyError):
        reg.delete_ns("prod")
    assert state(raw) == before
    refused("ResourceInUse", raw.delete_service, Id=serv_id)
    refused("ResourceInUse", raw.delete_namespace, Id=ns_id)
    refused("ServiceNotFound", raw.delete_service, Id="srv-missing")
    assert state(raw) == before


def test_names_in_use_and_missing_parents_are_refused(reg: CloudMapRegistry, raw: Any) -> None:
    """CreateHttpNamespace: NamespaceAlreadyExists ("The namespace that you're trying to create
    already exists"); CreateService: ServiceAlreadyExists, and NamespaceNotFound for a namespace
    that does not exist."""
    before = state(raw)
    with pytest.raises(errors.AlreadyExistsError):
        reg.create_ns(Namespace("prod"))
    with pytest.raises(errors.AlreadyExistsError):
        reg.create_serv(Service("web", "prod"))
    with pytest.raises(errors.ParentNotFoundError):
        reg.create_serv(Service("web", "nowhere"))
    assert state(raw) == before
    ns_id = ids(raw)[0]
    refused("NamespaceAlreadyExists", raw.create_http_namespace, Name="prod")
    refused("ServiceAlreadyExists", raw.create_service, Name="web", NamespaceId=ns_id)
    refused("NamespaceNotFound", raw.create_service, Name="web", NamespaceId="ns-missing")
    assert state(raw) == before


def test_registering_an_existing_instance_updates_it(reg: CloudMapRegistry, raw: Any) -> None:
    """RegisterInstance: "If the instance already exists, RegisterInstance updates it" (it
    "creates or updates"): one instance, with the attributes of the last registration."""
    serv_id = ids(raw)[2]
    for address in ("10.0.0.1", "10.0.0.2"):
        raw.register_instance(
            ServiceId=serv_id, InstanceId="i", Attributes={"AWS_INSTANCE_IPV4": address}
        )
    listed = raw.list_instances(ServiceId=serv_id)["Instances"]
    assert [(i["Id"], i["Attributes"]) for i in listed] == [
        ("i", {"AWS_INSTANCE_IPV4": "10.0.0.2"})
    ]
    Broker(reg).manage_serv_endps("prod", "web", [Endpoint("e", "prod", "web", "10.0.0.1", 1)])
    Broker(reg).manage_serv_endps("prod", "web", [Endpoint("e", "prod", "web", "10.0.0.3", 2)])
    assert [(e.name, e.address, e.port) for e in reg.list_endp("prod", "web") if e.name == "e"] == [
        ("e", "10.0.0.3", 2)
    ]


def test_list_filters(reg: CloudMapRegistry, raw: Any) -> None:
    """ListNamespaces, NamespaceFilter: TYPE, NAME, HTTP_NAME, RESOURCE_OWNER; "EQ ... you can
    specify only one value", "BEGINS_WITH is supported for TYPE, NAME, and HTTP_NAME";
    ListServices, ServiceFilter: NAMESPACE_ID ("one namespace ID or ARN") with EQ."""
    broker = Broker(reg)
    for name in ("prod-eu", "staging"):
        broker.manage_ns(Namespace(name))
        broker.manage_serv(Service("web", name))

    def names(**filters: Any) -> list[str]:
        flt = [{"Name": n, "Values": [v[1]], "Condition": v[0]} for n, v in filters.items()]
        return sorted(n["Name"] for n in raw.list_namespaces(Filters=flt)["Namespaces"])

    assert names(NAME=("EQ", "prod")) == ["prod"]
    assert names(NAME=("BEGINS_WITH", "prod")) == ["prod", "prod-eu"]
    assert names(HTTP_NAME=("EQ", "staging")) == ["staging"]
    assert names(TYPE=("EQ", "HTTP"), RESOURCE_OWNER=("EQ", "SELF")) == [
        "prod",
        "prod-eu",
        "staging",
    ]
    assert names(TYPE=("EQ", "DNS_PRIVATE")) == []
    for flt in (
        {"Name": "NAME", "Values": ["prod", "staging"], "Condition": "EQ"},
        {"Name": "NAME", "Values": ["prod"], "Condition": "IN"},
        {"Name": "RESOURCE_OWNER", "Values": ["SELF"], "Condition": "BEGINS_WITH"},
        {"Name": "OWNER", "Values": ["prod"]},
    ):
        refused("InvalidInput", raw.list_namespaces, Filters=[flt])
    ns_id, ns_arn, serv_id = ids(raw)
    for value in (ns_id, ns_arn):
        in_ns = [{"Name": "NAMESPACE_ID", "Values": [value], "Condition": "EQ"}]
        assert [s["Id"] for s in raw.list_services(Filters=in_ns)["Services"]] == [serv_id]
    refused(
        "InvalidInput",
        raw.list_services,
        Filters=[{"Name": "NAMESPACE_ID", "Values": [ns_id], "Condition": "BEGINS_WITH"}],
    )
    assert [s.name for s in reg.list_serv("prod")] == ["web"]
