"""The Service Directory emulator answers as the v1 API does, rule by rule, over real gRPC with
the official client: list filters, ordering, lookups, update masks and quotas (the rules the
backend also enforces are in ``tests/backends/test_servicedirectory_fidelity.py``).

Each docstring names its source in the API reference: the ``google.cloud.servicedirectory.v1``
request messages, as the ``google-cloud-service-directory`` package documents them, and the
Service Directory quotas page.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import servicedirectory_v1 as sd
from google.protobuf import field_mask_pb2

from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator

ENDPOINTS = [  # id, address, port, annotations
    ("a", "10.0.0.2", 443, {"zone": "z1", "owner": "sd"}),
    ("b", "10.0.0.1", 8080, {"zone": "z2"}),
    ("c", "10.0.0.2", 80, {}),
    ("d", "10.0.0.10", 8080, {"owner": "other"}),
]


@pytest.fixture
def emulator(servicedirectory_emulator: ServiceDirectoryEmulator) -> Iterator[Any]:
    yield servicedirectory_emulator
    servicedirectory_emulator.set_quota()


@pytest.fixture
def service(client: Any, location: str) -> str:
    """Namespace ``prod`` (labelled ``owner=sd``) with service ``web`` and ``ENDPOINTS``."""
    ns = client.create_namespace(
        parent=location, namespace_id="prod", namespace=sd.Namespace(labels={"owner": "sd"})
    )
    client.create_namespace(parent=location, namespace_id="dev", namespace=sd.Namespace())
    serv = client.create_service(
        parent=ns.name, service_id="web", service=sd.Service(annotations={"owner": "sd"})
    )
    client.create_service(parent=ns.name, service_id="api", service=sd.Service())
    for endpoint_id, address, port, extra in ENDPOINTS:
        client.create_endpoint(
            parent=serv.name,
            endpoint_id=endpoint_id,
            endpoint=sd.Endpoint(address=address, port=port, annotations=extra),
        )
    return str(serv.name)


def ids(items: Any) -> list[str]:
    return [item.name.rsplit("/", 1)[-1] for item in items]


def endpoints(client: Any, service: str, **request: str) -> list[str]:
    return ids(client.list_endpoints(request={"parent": service, **request}))


def test_a_filter_on_a_field_the_resource_lacks_lists_nothing(
    client: Any, location: str, service: str
) -> None:
    """Source: ``ListNamespacesRequest.filter`` (and ``ListServicesRequest``,
    ``ListEndpointsRequest``): "``doesnotexist.foo=bar`` returns an empty list. Note that
    namespace doesn't have a field called "doesnotexist". Since the filter does not match any
    namespaces, it returns no results" — an empty list, not INVALID_ARGUMENT. A field of
    another resource (``address`` on services, ``labels`` on endpoints, v1beta1's ``metadata``)
    is one the resource lacks too."""
    ns = service.rsplit("/services/", 1)[0]
    assert ids(client.list_namespaces(request={"parent": location, "filter": "x.y=z"})) == []
    for expression in ("doesnotexist.foo=bar", "address=10.0.0.1", "labels.owner=sd"):
        assert ids(client.list_services(request={"parent": ns, "filter": expression})) == []
    for expression in ("doesnotexist.foo=bar", "labels.owner=sd", "metadata.owner=sd"):
        assert endpoints(client, service, filter=expression) == []
    assert endpoints(client, service, filter="doesnotexist.foo=bar OR port=80") == ["c"]
    with pytest.raises(gexc.InvalidArgument, match="filter"):  # a syntax error still is one
        endpoints(client, service, filter="port>")


def test_a_bare_map_key_tests_presence(client: Any, location: str, service: str) -> None:
    """Source: ``ListEndpointsRequest.filter``: "``annotations.owner`` returns endpoints that
    have a annotation with the key ``owner``, this is the same as ``annotations:owner``";
    ``ListNamespacesRequest.filter``: "``labels.owner`` returns namespaces that have a label
    with the key ``owner``"."""
    for expression in ("annotations.owner", "annotations:owner", "annotations.owner:*"):
        assert endpoints(client, service, filter=expression) == ["a", "d"], expression
    assert endpoints(client, service, filter="NOT annotations.owner") == ["b", "c"]
    assert endpoints(client, service, filter="annotations.owner AND port=8080") == ["d"]
    for expression in ("labels.owner", "labels:owner"):
        found = client.list_namespaces(request={"parent": location, "filter": expression})
        assert ids(found) == ["prod"]


def test_not_equal_matches_only_objects_that_have_the_key(client: Any, service: str) -> None:
    """Source: ``ListEndpointsRequest.filter``: "``annotations.owner!=sd AND
    annotations.foo=bar`` returns endpoints that have ``owner`` in annotation key but value is
    not ``sd`` AND have key/value ``foo=bar``": an endpoint without the key does not match."""
    assert endpoints(client, service, filter="annotations.owner!=sd") == ["d"]
    assert endpoints(client, service, filter='annotations.zone="z1"') == ["a"]
    assert endpoints(client, service, filter="port>8000") == ["b", "d"]
    assert endpoints(client, service, filter="address=10.0.0.2") == ["a", "c"]
    assert endpoints(client, service, filter=f"name>{service}/endpoints/b") == ["c", "d"]


def test_endpoints_can_be_ordered_by_address_and_port(
    client: Any, location: str, service: str
) -> None:
    """Source: ``ListEndpointsRequest.order_by``: "General ``order_by`` string syntax:
    ``<field> (<asc|desc>) (,)``; ``<field>`` allows values: ``name``, ``address``, ``port``";
    an empty ``order_by`` is by name ascending. ``ListNamespacesRequest.order_by`` and
    ``ListServicesRequest.order_by`` allow ``name`` only."""
    assert endpoints(client, service) == ["a", "b", "c", "d"]
    assert endpoints(client, service, order_by="port") == ["c", "a", "b", "d"]
    assert endpoints(client, service, order_by="port desc") == ["b", "d", "a", "c"]
    assert endpoints(client, service, order_by="address") == ["b", "d", "a", "c"]
    assert endpoints(client, service, order_by="address desc, port") == ["c", "a", "d", "b"]
    assert endpoints(client, service, order_by="address, port desc") == ["b", "d", "a", "c"]
    assert endpoints(client, service, order_by="name desc") == ["d", "c", "b", "a"]
    with pytest.raises(gexc.InvalidArgument, match="order_by"):
        endpoints(client, service, order_by="zone")
    with pytest.raises(gexc.InvalidArgument, match="order_by"):
        list(client.list_namespaces(request={"parent": location, "order_by": "address"}))


def test_resolve_service_clamps_max_endpoints(
    client: Any, lookup: Any, location: str, emulator: Any
) -> None:
    """Source: ``ResolveServiceRequest.max_endpoints``: "Defaults to 25. Maximum is 100. If a
    value less than one is specified, the Default is used. If a value greater than the Maximum
    is specified, the Maximum is used." Also ``Service.endpoints``: the endpoints returned on
    ResolveService."""
    ns = client.create_namespace(parent=location, namespace_id="big", namespace=sd.Namespace())
    serv = client.create_service(parent=ns.name, service_id="many", service=sd.Service())
    for i in range(120):
        emulator.put(sd.Endpoint(name=f"{serv.name}/endpoints/e{i:03d}", address="10.0.0.1"))
    expected = {0: 25, -5: 25, 1: 1, 30: 30, 100: 100, 101: 100, 1000: 100}
    for asked, returned in expected.items():
        resolved = lookup.resolve_service(request={"name": serv.name, "max_endpoints": asked})
        assert len(resolved.service.endpoints) == returned, asked
    resolved = lookup.resolve_service(request={"name": serv.name})
    assert ids(resolved.service.endpoints) == [f"e{i:03d}" for i in range(25)]


@pytest.mark.parametrize("kind", ["namespace", "service", "endpoint"])
def test_an_update_without_a_mask_is_refused(client: Any, service: str, kind: str) -> None:
    """Source: ``UpdateNamespaceRequest.update_mask`` (and ``UpdateServiceRequest``,
    ``UpdateEndpointRequest``): "Required. List of fields to be updated in this request." A
    request without one, or with an empty one, is INVALID_ARGUMENT and changes nothing."""
    names = {
        "namespace": service.rsplit("/services/", 1)[0],
        "service": service,
        "endpoint": f"{service}/endpoints/a",
    }
    name = names[kind]
    message = {
        "namespace": sd.Namespace(name=name, labels={}),
        "service": sd.Service(name=name, annotations={}),
        "endpoint": sd.Endpoint(name=name, address="10.9.9.9", port=1),
    }[kind]
    update = getattr(client, f"update_{kind}")
    get = getattr(client, f"get_{kind}")
    before = get(name=name)
    for mask in ({}, {"update_mask": field_mask_pb2.FieldMask(paths=[])}):
        with pytest.raises(gexc.InvalidArgument, match="update_mask is required"):
            update(request={kind: message, **mask})
    assert get(name=name) == before


def test_only_mutable_fields_can_be_updated(client: Any, service: str) -> None:
    """Source: ``Endpoint``: ``name`` and ``network`` are "Immutable", ``uid`` is "Output only";
    an update mask naming one is INVALID_ARGUMENT. ``address``, ``port`` and ``annotations``
    are updated as the mask says, the other fields kept."""
    name = f"{service}/endpoints/a"
    for path in ("network", "uid", "name"):
        with pytest.raises(gexc.InvalidArgument, match="cannot be updated"):
            client.update_endpoint(
                endpoint=sd.Endpoint(name=name),
                update_mask=field_mask_pb2.FieldMask(paths=[path]),
            )
    updated = client.update_endpoint(
        endpoint=sd.Endpoint(name=name, address="10.9.9.9", port=1),
        update_mask=field_mask_pb2.FieldMask(paths=["address"]),
    )
    assert (updated.address, updated.port, dict(updated.annotations)) == (
        "10.9.9.9",
        443,
        {"zone": "z1", "owner": "sd"},
    )


def test_a_per_minute_quota_answers_resource_exhausted(
    client: Any, lookup: Any, location: str, service: str, emulator: Any
) -> None:
    """Source: the Service Directory quotas page: "Registration requests per minute per region"
    and "Lookup requests per minute per region". Beyond its quota a request fails with
    RESOURCE_EXHAUSTED, naming the quota, and changes nothing; quotas count per project and
    region, and a window later requests pass again."""
    other = f"projects/p-{uuid.uuid4().hex[:8]}/locations/us-central1"
    emulator.set_quota(registration=3, lookup=1, window=1.0)
    for _ in range(3):
        client.get_service(name=service)
    with pytest.raises(gexc.ResourceExhausted, match="Registration requests per minute"):
        client.create_namespace(parent=location, namespace_id="late", namespace=sd.Namespace())
    client.create_namespace(parent=other, namespace_id="elsewhere", namespace=sd.Namespace())
    lookup.resolve_service(request={"name": service})
    with pytest.raises(gexc.ResourceExhausted, match="Lookup requests per minute"):
        lookup.resolve_service(request={"name": service})
    time.sleep(1.1)
    client.create_namespace(parent=location, namespace_id="late", namespace=sd.Namespace())
    emulator.set_quota()
    assert "late" in ids(client.list_namespaces(parent=location))
