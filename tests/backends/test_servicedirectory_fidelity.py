"""Service Directory fidelity: one test per documented rule of the v1 API. Each test shows both
halves, over real gRPC with the official client against the emulator:

- the backend refuses what the API would refuse (or silently drop) before writing anything,
  with an error naming the field and the rule, and the registry is left unchanged;
- the emulator itself answers as the API does (INVALID_ARGUMENT, or the documented behaviour),
  so an emulator drifting from the API fails here too, not only the backend.

Each docstring names its source in the API reference: the ``google.cloud.servicedirectory.v1``
messages and methods, as the ``google-cloud-service-directory`` package documents them, and the
Service Directory quotas page. Rules only the emulator has (filters, ordering, lookups, update
masks) are in ``tests/emulators/test_servicedirectory_fidelity.py``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import servicedirectory_v1 as sd
from google.protobuf import field_mask_pb2

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.servicedirectory import ServiceDirectoryRegistry
from servregistry.backends.servicedirectory.registry import QUOTA
from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator
from servregistry.registry import EndpointChanges
from tests.fixtures.servicedirectory import project

WRITES = tuple(
    f"{verb}{kind}"
    for verb in ("Create", "Update", "Delete")
    for kind in ("Namespace", "Service", "Endpoint")
)
OWNER = {"owner": "cnwan-operator"}


@pytest.fixture
def reg(servicedirectory_registry: ServiceDirectoryRegistry) -> ServiceDirectoryRegistry:
    """A registry of its own project, holding namespace ``prod`` and service ``prod/web``."""
    servicedirectory_registry.create_ns(Namespace("prod", OWNER))
    servicedirectory_registry.create_serv(Service("web", "prod", OWNER))
    return servicedirectory_registry


@pytest.fixture
def emulator(servicedirectory_emulator: ServiceDirectoryEmulator) -> Iterator[Any]:
    yield servicedirectory_emulator
    servicedirectory_emulator.set_quota()  # a test that sets a quota never leaks it


def snapshot(reg: ServiceDirectoryRegistry) -> list[object]:
    """Every object of the registry's project and region, as the backend reads it."""
    found: list[object] = []
    for ns in reg.list_ns():
        found.append(ns)
        for serv in reg.list_serv(ns.name):
            found.append(serv)
            found.extend(reg.list_endp(ns.name, serv.name))
    return found


@contextmanager
def nothing_written(reg: ServiceDirectoryRegistry, emulator: Any) -> Iterator[None]:
    """The block sends no write to the emulator and the registry reads the same after it."""
    calls = {w: emulator.calls[w] for w in WRITES}
    before = snapshot(reg)
    yield
    assert {w: emulator.calls[w] for w in WRITES} == calls
    assert snapshot(reg) == before


def refused(call: Any, field: str, rule: str) -> errors.InvalidInputError:
    with pytest.raises(errors.InvalidInputError) as caught:
        call()
    assert caught.value.field == field
    assert rule in caught.value.rule, caught.value.rule
    return caught.value


def api_refuses(reg: ServiceDirectoryRegistry, call: Any, rule: str) -> None:
    """The emulator answers ``call`` (the official client's) INVALID_ARGUMENT naming ``rule``,
    and stores nothing."""
    before = snapshot(reg)
    with pytest.raises(gexc.InvalidArgument, match=re.escape(rule)):
        call()
    assert snapshot(reg) == before


def test_resource_ids_are_rfc1035_labels_of_1_to_63_characters(reg: Any, emulator: Any) -> None:
    """Source: ``CreateNamespaceRequest.namespace_id`` (and ``service_id``, ``endpoint_id``):
    "1-63 characters long and match the regular expression
    ``[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?``". A single character is valid (Terraform's 2-63 is
    Terraform's own rule)."""
    location = f"projects/{reg.project}/locations/{reg.region}"
    for bad in ("Prod", "a" * 64, "-a", "a-", "1a", "a_b"):
        with nothing_written(reg, emulator):
            refused(lambda b=bad: reg.create_ns(Namespace(b)), "namespace.name", "RFC 1035")
            refused(lambda b=bad: reg.create_serv(Service(b, "prod")), "service.name", "RFC 1035")
        api_refuses(
            reg,
            lambda b=bad: reg.client.create_namespace(
                parent=location, namespace_id=b, namespace=sd.Namespace()
            ),
            "RFC 1035",
        )
    for good in ("a", "a" * 63, "a-1"):
        reg.create_ns(Namespace(good))
        assert reg.get_ns(good) == Namespace(good)


def test_namespace_labels_follow_the_google_cloud_label_rule(reg: Any, emulator: Any) -> None:
    """Source: ``Namespace.labels``: "No more than 64 user labels ... Label keys and values can
    be no longer than 63 characters"; their characters are Google Cloud's label rule (lowercase
    letters, international ones included, digits, ``_`` and ``-``; keys start with a letter)."""
    sixty_four = {f"k{i}": "v" for i in range(64)}
    cases = {
        "65 labels: at most 64": {**sixty_four, "k64": "v"},
        "label key 'Team'": {"Team": "a"},
        "label key '1team'": {"1team": "a"},
        f"label key '{'k' * 64}'": {"k" * 64: "a"},
        "label 'team' value 'a/b'": {"team": "a/b"},
        "label 'team' value 'ABC'": {"team": "ABC"},
        f"label 'team' value '{'v' * 64}'": {"team": "v" * 64},
    }
    location = f"projects/{reg.project}/locations/{reg.region}"
    for rule, labels in cases.items():
        with nothing_written(reg, emulator):
            refused(
                lambda lb=labels: reg.create_ns(Namespace("ns", lb)), "namespace.metadata", rule
            )
        api_refuses(
            reg,
            lambda lb=labels: reg.client.create_namespace(
                parent=location, namespace_id="ns", namespace=sd.Namespace(labels=lb)
            ),
            rule,
        )
    accepted = {
        "many": sixty_four,
        "intl": {"équipe": "données", "团队": "开发", "k" * 63: "v" * 63, "empty": ""},
    }
    for name, labels in accepted.items():
        reg.create_ns(Namespace(name, labels))
        assert reg.get_ns(name).metadata == labels


@pytest.mark.parametrize(
    ("kind", "limit"), [("service", 2000), ("endpoint", 512)], ids=["service", "endpoint"]
)
def test_annotations_are_limited_in_total_size(
    reg: Any, emulator: Any, kind: str, limit: int
) -> None:
    """Source: ``Service.annotations`` / ``Endpoint.annotations``: "The entire annotations
    dictionary may contain up to 2000 [512] characters, spread accoss all key-value pairs.
    Annotations that go beyond this limit are rejected". Keys count as well as values."""
    at_limit = {"k": "v" * (limit - 1)}
    over = {"kk": "v" * (limit - 1)}
    parent = reg.native_id(Service("web", "prod"))

    def backend(metadata: dict[str, str], name: str) -> Any:
        if kind == "service":
            return reg.create_serv(Service(name, "prod", metadata))
        return reg.create_endp(Endpoint(name, "prod", "web", "10.0.0.1", 80, metadata))

    def api(metadata: dict[str, str], name: str) -> Any:
        if kind == "service":
            service = sd.Service(annotations=metadata)
            return reg.client.create_service(
                parent=reg.native_id(Namespace("prod")), service_id=name, service=service
            )
        endpoint = sd.Endpoint(annotations=metadata)
        return reg.client.create_endpoint(parent=parent, endpoint_id=name, endpoint=endpoint)

    with nothing_written(reg, emulator):
        refused(lambda: backend(over, "big"), f"{kind}.metadata", f"{limit + 1} characters")
    api_refuses(reg, lambda: api(over, "big"), f"at most {limit}")
    backend(at_limit, "fits")
    api(at_limit, "fits-too")


def test_annotation_keys_are_an_optional_dns_prefix_and_a_name(reg: Any, emulator: Any) -> None:
    """Source: ``Service.annotations``: "Valid annotation keys have two segments: an optional
    prefix and name, separated by a slash (/). The name segment is required and must be 63
    characters or less, beginning and ending with an alphanumeric character ([a-z0-9A-Z]) with
    dashes (-), underscores (_), dots (.), and alphanumerics between. ... the prefix must be a
    DNS subdomain ... not longer than 253 characters in total"."""
    bad_keys = {
        "n" * 64: "the name",
        "-name": "the name",
        "name.": "the name",
        "cnwan.io/": "the name",
        "Bad_Prefix/name": "DNS subdomain",
        ("a" * 62 + ".") * 4 + "ab/name": "DNS subdomain",  # a prefix of 254 characters
        "a..b/name": "DNS subdomain",
    }
    ns_name = reg.native_id(Namespace("prod"))
    for key, rule in bad_keys.items():
        with nothing_written(reg, emulator):
            service = Service("api", "prod", {key: "1"})
            refused(lambda s=service: reg.create_serv(s), "service.metadata", rule)
        api_refuses(
            reg,
            lambda k=key: reg.client.create_service(
                parent=ns_name, service_id="api", service=sd.Service(annotations={k: "1"})
            ),
            rule,
        )
    good = {"cnwan.io/traffic-profile": "x", "A.b_c-D9": "y", ("a" * 62 + ".") * 4 + "a/n": "z"}
    reg.create_serv(Service("api", "prod", good))
    assert reg.get_serv("prod", "api").metadata == good


def test_reserved_annotation_keyspaces_are_refused_because_the_api_drops_them(
    reg: Any, emulator: Any
) -> None:
    """Source: ``v1beta1.Service.metadata`` (the same storage as v1 annotations): "The
    ``(*.)google.com/`` and ``(*.)googleapis.com/`` prefixes are reserved for system metadata
    managed by Service Directory. If the user tries to write to these keyspaces, those entries
    are silently ignored". The API takes such a write and drops the key, so the backend
    refuses it: written, it would read back without the key and drift on every run."""
    for key in ("google.com/x", "googleapis.com/x", "sub.google.com/x", "a.googleapis.com/x"):
        with nothing_written(reg, emulator):
            service = Service("api", "prod", {key: "1", "team": "a"})
            refused(lambda s=service: reg.create_serv(s), "service.metadata", "reserved")
            endpoint = Endpoint("e", "prod", "web", "10.0.0.1", 80, {key: "1"})
            refused(lambda e=endpoint: reg.create_endp(e), "endpoint.metadata", "reserved")
        written = reg.client.create_service(
            parent=reg.native_id(Namespace("prod")),
            service_id="api",
            service=sd.Service(annotations={key: "1", "team": "a"}),
        )
        assert dict(written.annotations) == {"team": "a"}  # silently dropped
        assert dict(reg.client.get_service(name=written.name).annotations) == {"team": "a"}
        reg.client.delete_service(name=written.name)
    not_reserved = {"google.community/x": "1", "mygoogle.com/x": "2", "x.google.co/y": "3"}
    reg.create_serv(Service("api", "prod", not_reserved))
    assert reg.get_serv("prod", "api").metadata == not_reserved


def test_endpoint_addresses_are_ipv4_or_ipv6_without_zone_port_or_brackets(
    reg: Any, emulator: Any
) -> None:
    """Source: ``Endpoint.address``: "An IPv4 or IPv6 address. Service Directory rejects bad
    addresses like: 8.8.8, 8.8.8.8:53, test:bad:address, [::1], [::1]:8080. Limited to 45
    characters." A zone-scoped IPv6 address (``fe80::1%eth0``) names an interface of one host,
    not an address others can reach: the backend refuses it (Python's ``ipaddress`` and our
    model accept it), and so does the emulator. An endpoint set holding one is refused whole."""
    broker = Broker(reg)
    fine = [Endpoint("ok", "prod", "web", "10.0.0.1", 80)]
    parent = reg.native_id(Service("web", "prod"))
    for address in ("fe80::1%eth0", "fe80::1%1", "::1%lo"):
        endpoint = Endpoint("e", "prod", "web", address, 80)
        with nothing_written(reg, emulator):
            refused(
                lambda e=endpoint: broker.manage_serv_endps("prod", "web", [*fine, e]),
                "endpoint.address",
                "zone-scoped IPv6 address",
            )
    documented = ("8.8.8", "8.8.8.8:53", "test:bad:address", "[::1]", "[::1]:8080")
    for address in (*documented, "fe80::1%eth0", "example.com", "0" * 46):
        api_refuses(
            reg,
            lambda a=address: reg.client.create_endpoint(
                parent=parent, endpoint_id="e", endpoint=sd.Endpoint(address=a)
            ),
            "address",
        )
        if "%" not in address:  # the model's own IP rule refuses these before the backend
            with pytest.raises(errors.InvalidInputError):
                Endpoint("e", "prod", "web", address, 80)
    longest = "0000:0000:0000:0000:0000:ffff:255.255.255.255"
    assert len(longest) == 45
    desired = [
        Endpoint(f"e{i}", "prod", "web", a, 80)
        for i, a in enumerate(["2001:db8::1", "::ffff:10.0.0.1", longest, "fe80::1"])
    ]
    assert broker.manage_serv_endps("prod", "web", desired) == {}
    assert sorted(e.address for e in reg.list_endp("prod", "web")) == sorted(
        e.address for e in desired
    )


def test_ports_are_0_to_65535(reg: Any, emulator: Any) -> None:
    """Source: ``Endpoint.port``: "Service Directory rejects values outside of [0, 65535]"."""
    parent = reg.native_id(Service("web", "prod"))
    for port in (-1, 65536):
        with pytest.raises(errors.InvalidInputError):  # the model's own rule
            Endpoint("e", "prod", "web", "10.0.0.1", port)
        api_refuses(
            reg,
            lambda p=port: reg.client.create_endpoint(
                parent=parent, endpoint_id="e", endpoint=sd.Endpoint(port=p)
            ),
            "0..65535",
        )
    desired = [Endpoint(f"e{p}", "prod", "web", "10.0.0.1", p) for p in (0, 65535)]
    assert Broker(reg).manage_serv_endps("prod", "web", desired) == {}
    assert sorted(e.port for e in reg.list_endp("prod", "web")) == [0, 65535]


def test_an_endpoint_network_is_immutable_and_our_updates_keep_it(reg: Any, emulator: Any) -> None:
    """Source: ``Endpoint.network``: "Immutable. ... in the format
    ``projects/<project number>/locations/global/networks/*``. The project must be specified by
    project number (project id is rejected)." The backend's update mask names only address,
    port and annotations, so an endpoint another tool attached to a network keeps it when we
    update it; the emulator refuses a mask naming ``network`` and a network by project id."""
    parent = reg.native_id(Service("web", "prod"))
    network = "projects/123456789/locations/global/networks/default"
    api_refuses(
        reg,
        lambda: reg.client.create_endpoint(
            parent=parent,
            endpoint_id="e",
            endpoint=sd.Endpoint(network="projects/my-project/locations/global/networks/x"),
        ),
        "project number",
    )
    created = reg.client.create_endpoint(
        parent=parent,
        endpoint_id="e",
        endpoint=sd.Endpoint(address="10.0.0.1", port=80, annotations=OWNER, network=network),
    )
    reg.update_endp(Endpoint("e", "prod", "web", "10.0.0.2", 81, {**OWNER, "v": "2"}))
    after = reg.client.get_endpoint(name=created.name)
    assert (after.address, after.port, after.network) == ("10.0.0.2", 81, network)
    api_refuses(
        reg,
        lambda: reg.client.update_endpoint(
            endpoint=sd.Endpoint(name=created.name, network=""),
            update_mask=field_mask_pb2.FieldMask(paths=["network"]),
        ),
        "network cannot be updated",
    )
    assert reg.client.get_endpoint(name=created.name).network == network


def test_deleting_a_parent_deletes_its_children_so_the_backend_refuses(
    reg: Any, emulator: Any
) -> None:
    """Source: ``RegistrationService.DeleteNamespace``: "This also deletes all services and
    endpoints in the namespace"; ``DeleteService``: "This also deletes all endpoints". The
    backend deletes only an empty parent, so it never takes a child with it."""
    reg.create_endp(Endpoint("e", "prod", "web", "10.0.0.1", 80, {"owner": "someone-else"}))
    with nothing_written(reg, emulator):
        with pytest.raises(errors.NamespaceNotEmptyError, match="web"):
            reg.delete_ns("prod")
        with pytest.raises(errors.ServiceNotEmptyError, match=r"\(e\)"):
            reg.delete_serv("prod", "web")
    reg.client.delete_namespace(name=reg.native_id(Namespace("prod")))  # the API cascades
    with pytest.raises(gexc.NotFound):
        reg.client.get_endpoint(name=reg.native_id(Endpoint("e", "prod", "web", "10.0.0.1", 80)))


def test_a_per_minute_quota_is_retried_with_backoff_and_the_set_converges(
    reg: Any, emulator: Any
) -> None:
    """Source: the Service Directory quotas page ("Registration requests per minute per
    region"); a request beyond a quota fails with RESOURCE_EXHAUSTED. The backend retries it
    with backoff, as Cloud Map throttling is retried: under a quota of 8 requests a second, a
    set of 20 endpoints converges, some of its writes having been answered RESOURCE_EXHAUSTED
    first (the emulator counts every attempt)."""
    emulator.set_quota(registration=8, window=1.0)
    desired = [Endpoint(f"e{i:02d}", "prod", "web", f"10.0.0.{i}", 80) for i in range(20)]
    before = emulator.calls["CreateEndpoint"]
    started = time.monotonic()
    assert Broker(reg).manage_serv_endps("prod", "web", desired) == {}
    elapsed = time.monotonic() - started
    attempts = emulator.calls["CreateEndpoint"] - before
    assert attempts > len(desired)  # the quota was hit, and retried
    emulator.set_quota()
    assert sorted(e.name for e in reg.list_endp("prod", "web")) == [e.name for e in desired]
    print(f"quota 8/s: 20 endpoints written in {elapsed:.1f} s with {attempts} create attempts")


def test_a_quota_still_used_up_after_the_retries_is_a_clear_error(
    servicedirectory_server: str, emulator: Any
) -> None:
    """Source: the Service Directory quotas page ("Registration requests per minute per
    region"). A quota used up for longer than the registry's timeout ends in a
    RegistryUnavailableError naming the quota and the fix, after more than one attempt, with
    nothing written; in an endpoint set, the writes after the first such failure are not
    attempted."""
    reg = ServiceDirectoryRegistry(
        project(), "r", endpoint=servicedirectory_server, timeout=2.0, concurrency=2
    )
    try:
        reg.create_ns(Namespace("prod"))
        reg.create_serv(Service("web", "prod"))
        emulator.set_quota(registration=0)
        before = emulator.calls["CreateService"]
        started = time.monotonic()
        with pytest.raises(errors.RegistryUnavailableError) as caught:
            reg.create_serv(Service("api", "prod"))
        elapsed = time.monotonic() - started
        message = str(caught.value)
        assert message.startswith(f"Service Directory ({reg.project}/r): the quota")
        for part in (QUOTA, "RESOURCE_EXHAUSTED", "attempt(s) in", "?concurrency=", "Quotas"):
            assert part in message, part
        assert emulator.calls["CreateService"] - before >= 2
        assert elapsed < 2.0 + 1.0
        desired = [Endpoint(f"e{i:02d}", "prod", "web", "10.0.0.1", i) for i in range(10)]
        changes = EndpointChanges("prod", "web", create=desired, current={})
        failures = reg.apply_endpoint_changes(changes)
        assert sorted(failures) == [e.name for e in desired]
        assert all(isinstance(e, errors.RegistryUnavailableError) for e in failures.values())
        skipped = [n for n, e in failures.items() if str(e).startswith("not attempted")]
        assert 1 <= len(skipped) <= len(desired) - 1
        emulator.set_quota()
        assert [s.name for s in reg.list_serv("prod")] == ["web"]
        assert reg.list_endp("prod", "web") == []
        print(f"persistent quota: {type(caught.value).__name__} after {elapsed:.1f} s")
    finally:
        emulator.set_quota()
        reg.close()
