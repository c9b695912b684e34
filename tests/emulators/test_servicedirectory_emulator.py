"""The Service Directory emulator, driven by the official client over real gRPC."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as gexc
from google.cloud import servicedirectory_v1 as sd
from google.cloud.servicedirectory_v1.services.lookup_service.transports import (
    LookupServiceGrpcTransport,
)
from google.cloud.servicedirectory_v1.services.registration_service.transports import (
    RegistrationServiceGrpcTransport,
)
from google.protobuf import field_mask_pb2


@pytest.fixture
def service(client: Any, location: str) -> str:
    ns = client.create_namespace(
        parent=location, namespace_id="prod", namespace=sd.Namespace(labels={"owner": "x"})
    )
    serv = client.create_service(parent=ns.name, service_id="web", service=sd.Service())
    for i, (address, port) in enumerate([("10.0.0.1", 80), ("10.0.0.2", 8443), ("::1", 9000)]):
        client.create_endpoint(
            parent=serv.name,
            endpoint_id=f"e{i}",
            endpoint=sd.Endpoint(address=address, port=port, annotations={"zone": f"z{i % 2}"}),
        )
    return str(serv.name)


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"namespace_id": "Prod"}, "RFC 1035"),
        ({"namespace_id": "a" * 64}, "1-63"),
        ({"namespace_id": "ok", "namespace": sd.Namespace(labels={"Key": "v"})}, "label key"),
        ({"namespace_id": "ok", "namespace": sd.Namespace(labels={"k": "a/b"})}, "value"),
    ],
)
def test_namespace_validation(client: Any, location: str, kwargs: dict[str, Any], rule: str):
    with pytest.raises(gexc.InvalidArgument, match=rule):
        client.create_namespace(parent=location, **{"namespace": sd.Namespace(), **kwargs})
    assert list(client.list_namespaces(parent=location)) == []


def test_annotation_address_and_port_rules(client: Any, service: str) -> None:
    big = {"k": "v" * 600}
    with pytest.raises(gexc.InvalidArgument, match="at most 512"):
        client.create_endpoint(
            parent=service, endpoint_id="big", endpoint=sd.Endpoint(annotations=big)
        )
    with pytest.raises(gexc.InvalidArgument, match="not a valid IPv4"):
        client.create_endpoint(
            parent=service, endpoint_id="addr", endpoint=sd.Endpoint(address="example.com")
        )
    ns = service.rsplit("/services/", 1)[0]
    with pytest.raises(gexc.InvalidArgument, match="at most 2000"):
        client.create_service(
            parent=ns, service_id="big", service=sd.Service(annotations={"k": "v" * 2001})
        )


def test_address_and_port_are_optional_as_in_the_api(client: Any, service: str) -> None:
    bare = client.create_endpoint(
        parent=service, endpoint_id="bare", endpoint=sd.Endpoint(annotations={"owner": "x"})
    )
    assert (bare.address, bare.port) == ("", 0)
    listed = {e.name.rsplit("/", 1)[-1]: e for e in client.list_endpoints(parent=service)}
    assert (listed["bare"].address, listed["bare"].port) == ("", 0)
    updated = client.update_endpoint(
        endpoint=sd.Endpoint(name=bare.name, port=8080),
        update_mask=field_mask_pb2.FieldMask(paths=["port"]),
    )
    assert (updated.address, updated.port) == ("", 8080)


def test_not_found_and_already_exists(client: Any, location: str, service: str) -> None:
    with pytest.raises(gexc.NotFound):
        client.get_namespace(name=f"{location}/namespaces/nope")
    with pytest.raises(gexc.NotFound):
        client.create_service(
            parent=f"{location}/namespaces/nope", service_id="s", service=sd.Service()
        )
    with pytest.raises(gexc.AlreadyExists):
        client.create_endpoint(parent=service, endpoint_id="e0", endpoint=sd.Endpoint())


def test_pagination_is_complete(client: Any, location: str) -> None:
    for i in range(230):
        client.create_namespace(parent=location, namespace_id=f"n{i:03d}", namespace=sd.Namespace())
    first = client.list_namespaces(request={"parent": location, "page_size": 100})
    assert len(first._response.namespaces) == 100 and first._response.next_page_token
    names = [n.name.rsplit("/", 1)[-1] for n in first]
    assert names == [f"n{i:03d}" for i in range(230)]
    with pytest.raises(gexc.InvalidArgument, match="page_token"):
        list(client.list_namespaces(request={"parent": location, "page_token": "bogus"}))
    desc = client.list_namespaces(request={"parent": location, "order_by": "name desc"})
    assert next(iter(desc)).name.endswith("n229")


def test_update_masks(client: Any, service: str) -> None:
    name = f"{service}/endpoints/e0"
    updated = client.update_endpoint(
        endpoint=sd.Endpoint(name=name, port=81, address="10.9.9.9"),
        update_mask=field_mask_pb2.FieldMask(paths=["port"]),
    )
    assert (updated.address, updated.port) == ("10.0.0.1", 81)
    with pytest.raises(gexc.InvalidArgument, match="cannot be updated"):
        client.update_endpoint(
            endpoint=sd.Endpoint(name=name), update_mask=field_mask_pb2.FieldMask(paths=["uid"])
        )
    with pytest.raises(gexc.InvalidArgument, match="update_mask is required"):
        client.update_endpoint(
            endpoint=sd.Endpoint(name=name, address="10.1.1.1"),
            update_mask=field_mask_pb2.FieldMask(paths=[]),
        )
    assert client.get_endpoint(name=name).address == "10.0.0.1"


def test_deletes_cascade(client: Any, service: str) -> None:
    ns = service.rsplit("/services/", 1)[0]
    client.delete_namespace(name=ns)
    with pytest.raises(gexc.NotFound):
        client.get_endpoint(name=f"{service}/endpoints/e0")
    with pytest.raises(gexc.NotFound):
        client.get_service(name=service)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('annotations.zone="z0"', ["e0", "e2"]),
        ("port>8080", ["e1", "e2"]),
        ('address="10.0.0.2"', ["e1"]),
        ('NOT annotations.zone="z0"', ["e1"]),
        ('port<100 OR port>8500 AND annotations.zone="z0"', ["e0", "e2"]),
        ("annotations.zone:*", ["e0", "e1", "e2"]),
        ("annotations.zone=z1", ["e1"]),
        ("metadata.zone=z1", []),  # v1beta1's name for annotations is not a v1 field
    ],
)
def test_list_filters(client: Any, service: str, expression: str, expected: list[str]) -> None:
    found = client.list_endpoints(request={"parent": service, "filter": expression})
    assert [e.name.rsplit("/", 1)[-1] for e in found] == expected


def test_label_filter_and_bad_filters(client: Any, location: str, service: str) -> None:
    found = client.list_namespaces(request={"parent": location, "filter": 'labels.owner="x"'})
    assert [n.name.rsplit("/", 1)[-1] for n in found] == ["prod"]
    with pytest.raises(gexc.InvalidArgument, match="filter"):
        list(client.list_endpoints(request={"parent": service, "filter": "(port>1)"}))


def test_resolve_service(channel: grpc.Channel, service: str) -> None:
    lookup = sd.LookupServiceClient(transport=LookupServiceGrpcTransport(channel=channel))
    resolved = lookup.resolve_service(
        request={"name": service, "max_endpoints": 2, "endpoint_filter": "port>=80"}
    )
    assert [e.name.rsplit("/", 1)[-1] for e in resolved.service.endpoints] == ["e0", "e1"]


def test_runs_as_a_module_with_a_quota(tmp_path: Any) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "servregistry.emulators.servicedirectory",
            "--port",
            "0",
            "--registration-quota",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            client = sd.RegistrationServiceClient(
                transport=RegistrationServiceGrpcTransport(channel=chan)
            )
            ns = client.create_namespace(
                parent="projects/p/locations/r", namespace_id="a", namespace=sd.Namespace()
            )
            assert ns.name == "projects/p/locations/r/namespaces/a"
            client.get_namespace(name=ns.name)
            with pytest.raises(gexc.ResourceExhausted, match="per minute"):
                client.get_namespace(name=ns.name)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
