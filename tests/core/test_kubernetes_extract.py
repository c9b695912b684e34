"""Kubernetes extraction: the seed's test vectors and our fixes (docs/semantics.md)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from servregistry import errors
from servregistry.kubernetes import endpoint_name, extract, filter_annotations


@pytest.mark.parametrize(
    ("address", "port", "suffix"),
    [
        ("10.10.10.10", 3333, "161e02099b"),
        ("10.10.10.10", 4444, "d5685bfbfc"),
        ("11.11.11.11", 3333, "3fd60c2c24"),
        ("20.20.20.20", 3333, "ba510b164d"),
        ("", 80, "4b35f70cb9"),
    ],
)
def test_endpoint_name_matches_seed_vectors(address: str, port: int, suffix: str) -> None:
    assert endpoint_name("serv", address, port) == f"serv-{suffix}"


ANNOTATIONS = {
    "stand-alone": "1",
    "prefix.io/one": "2",
    "prefix.io/two": "3",
    "another.io/first": "4",
    "yet-another.io/first": "5",
    "not.kept/second": "6",
    "a/b/first": "7",
    "standalone-other": "8",
}


def test_filter_annotations_seed_cases() -> None:
    assert filter_annotations({}, ["*/*", "x"]) == {}
    assert filter_annotations({"a": "b"}, []) == {}
    everything = filter_annotations(ANNOTATIONS, ["*/*"])
    assert everything == ANNOTATIONS
    assert everything is not ANNOTATIONS
    kept = filter_annotations(ANNOTATIONS, ["stand-alone", "prefix.io/*", "*/first"])
    assert set(kept) == {
        "stand-alone",
        "prefix.io/one",
        "prefix.io/two",
        "another.io/first",
        "yet-another.io/first",
    }


def k8s_objects() -> tuple[dict[str, Any], dict[str, Any]]:
    namespace = {"metadata": {"name": "ns", "annotations": {"team.io/owner": "a", "other": "b"}}}
    service = {
        "metadata": {"name": "serv", "namespace": "ignored", "annotations": {"cnwan.io/x": "y"}},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": 3333, "protocol": "TCP"}, {"port": 4444}],
            "externalIPs": ["10.10.10.10"],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "11.11.11.11"}]}},
    }
    return namespace, service


def test_extract_seed_success_case() -> None:
    namespace, service = k8s_objects()
    result = extract(namespace, service, service_annotations=["cnwan.io/*"])
    assert result.namespace.name == "ns"
    assert result.namespace.metadata == {}
    assert result.service.name == "serv"
    assert result.service.ns_name == "ns"
    assert result.service.metadata == {"cnwan.io/x": "y"}
    assert [(e.address, e.port) for e in result.endpoints] == [
        ("10.10.10.10", 3333),
        ("11.11.11.11", 3333),
        ("10.10.10.10", 4444),
        ("11.11.11.11", 4444),
    ]
    for endp in result.endpoints:
        assert endp.name == endpoint_name("serv", endp.address, endp.port)
        assert (endp.ns_name, endp.serv_name, endp.metadata) == ("ns", "serv", {})
    assert result.endpoints[0].name == "serv-161e02099b"
    assert result.skipped == []
    # the caller's maps are untouched
    assert namespace["metadata"]["annotations"] == {"team.io/owner": "a", "other": "b"}


def test_extract_namespace_annotations_allow_list() -> None:
    namespace, service = k8s_objects()
    result = extract(namespace, service, namespace_annotations=["team.io/*"])
    assert result.namespace.metadata == {"team.io/owner": "a"}
    assert result.service.metadata == {}


def test_extract_dedups_addresses_and_protocols() -> None:
    namespace, service = k8s_objects()
    service["spec"]["ports"] = [{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]
    service["spec"]["externalIPs"] = ["10.0.0.1", "10.0.0.1"]
    service["status"]["loadBalancer"]["ingress"] = [{"ip": "10.0.0.1"}]
    result = extract(namespace, service)
    assert [(e.address, e.port) for e in result.endpoints] == [("10.0.0.1", 53)]


def test_extract_reports_hostname_ingress_and_bad_addresses() -> None:
    namespace, service = k8s_objects()
    service["spec"]["externalIPs"] = ["not-an-ip"]
    service["status"]["loadBalancer"]["ingress"] = [
        {"hostname": "abc.elb.example"},
        {"ip": "2001:db8::1"},
    ]
    result = extract(namespace, service)
    assert {e.address for e in result.endpoints} == {"2001:db8::1"}
    assert all(e.address for e in result.endpoints)
    reasons = {(s.source, s.value): s.reason for s in result.skipped}
    assert "hostname" in reasons[("status.loadBalancer.ingress[0]", "abc.elb.example")]
    assert "not an IPv4 or IPv6" in reasons[("spec.externalIPs", "not-an-ip")]


def test_extract_reads_snake_case_objects() -> None:
    """pulumi_kubernetes outputs resolve to objects with snake_case attributes."""
    service = SimpleNamespace(
        metadata=SimpleNamespace(name="web", annotations={"a/b": "c"}),
        spec=SimpleNamespace(ports=[SimpleNamespace(port=80.0)], external_ips=None),
        status=SimpleNamespace(
            load_balancer=SimpleNamespace(ingress=[SimpleNamespace(ip="1.2.3.4", hostname=None)])
        ),
    )
    namespace = SimpleNamespace(metadata=SimpleNamespace(name="prod", annotations=None))
    result = extract(namespace, service, service_annotations=["*/*"])
    assert result.service.metadata == {"a/b": "c"}
    assert [(e.name, e.address, e.port) for e in result.endpoints] == [
        (endpoint_name("web", "1.2.3.4", 80), "1.2.3.4", 80)
    ]


def test_extract_missing_objects_and_bad_fields() -> None:
    namespace, service = k8s_objects()
    with pytest.raises(errors.NamespaceNotProvidedError):
        extract(None, service)
    with pytest.raises(errors.ServiceNotProvidedError):
        extract(namespace, None)
    service["spec"]["ports"] = [{"port": 70000}]
    with pytest.raises(errors.InvalidInputError, match=r"spec\.ports\[0\]\.port"):
        extract(namespace, service)
    with pytest.raises(errors.InvalidInputError, match=r"k8s_namespace\.metadata\.name"):
        extract({"metadata": {}}, service)
