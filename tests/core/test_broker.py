"""Broker-only cases the seed's tests do not cover: the stack pair, and losing a create race to
another writer. Run on the embedded registry in memory (a real backend, no server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servregistry import Broker, Endpoint, MetadataPair, Namespace, Service, errors
from servregistry.backends.sqlite import SqliteRegistry

OWNER = MetadataPair("owner", "cnwan-operator")
STACK_A = MetadataPair("pulumi-stack", "demo_a")
STACK_B = MetadataPair("pulumi-stack", "demo_b")


@pytest.fixture
def reg() -> Iterator[SqliteRegistry]:
    with SqliteRegistry(":memory:") as registry:
        yield registry


def test_the_stack_pair_is_written_and_required(reg: SqliteRegistry) -> None:
    a, b = Broker(reg, OWNER, stack=STACK_A), Broker(reg, OWNER, stack=STACK_B)
    made = a.manage_ns(Namespace("prod", {"team": "core"}))
    assert made.metadata == {"team": "core", "owner": "cnwan-operator", "pulumi-stack": "demo_a"}
    assert a.owns(made) and not b.owns(made)
    # the other stack sees it as foreign: returned unchanged, never updated or removed
    assert b.manage_ns(Namespace("prod", {"team": "edge"})) == made
    with pytest.raises(errors.NamespaceNotOwnedError):
        b.remove_ns("prod")
    assert reg.get_ns("prod") == made


def test_user_metadata_may_not_hold_the_stack_key(reg: SqliteRegistry) -> None:
    broker = Broker(reg, OWNER, stack=STACK_A)
    with pytest.raises(errors.InvalidInputError, match="pulumi-stack"):
        broker.manage_serv(Service("web", "prod", {"pulumi-stack": "demo_b"}))
    assert reg.list_ns() == []


class LosesTheCreateRace(SqliteRegistry):
    """Another writer creates the object between our read (not found) and our create."""

    def __init__(self, rival: Namespace) -> None:
        super().__init__(":memory:")
        self.rival = rival
        self.raced = False

    def get_ns(self, name: str) -> Namespace:
        if not self.raced:
            self.raced = True
            found = None
            try:
                found = super().get_ns(name)
            finally:
                super().create_ns(self.rival)  # the rival's write lands after our read
            return found
        return super().get_ns(name)


def test_a_lost_create_race_to_a_foreign_writer_leaves_its_object_alone() -> None:
    rival = Namespace("prod", {"owner": "someone-else", "team": "theirs"})
    with LosesTheCreateRace(rival) as reg:
        broker = Broker(reg, OWNER, stack=STACK_A)
        result = broker.manage_ns(Namespace("prod", {"team": "ours"}))
        assert result == rival and not broker.owns(result)
        assert reg.get_ns("prod") == rival


def test_a_lost_create_race_to_ourselves_converges() -> None:
    ours = Namespace("prod", {"owner": "cnwan-operator", "pulumi-stack": "demo_a", "team": "x"})
    with LosesTheCreateRace(ours) as reg:
        broker = Broker(reg, OWNER, stack=STACK_A)
        result = broker.manage_ns(Namespace("prod", {"team": "y"}))
        assert result.metadata["team"] == "y" and broker.owns(result)
        assert reg.get_ns("prod") == result


def test_endpoints_of_another_stack_are_reported_and_kept(reg: SqliteRegistry) -> None:
    a, b = Broker(reg, OWNER, stack=STACK_A), Broker(reg, OWNER, stack=STACK_B)
    a.manage_ns(Namespace("prod"))
    a.manage_serv(Service("web", "prod"))
    b.manage_serv_endps("prod", "web", [Endpoint("theirs", "prod", "web", "10.0.0.2", 80)])
    failures = a.manage_serv_endps("prod", "web", [Endpoint("mine", "prod", "web", "10.0.0.1", 80)])
    assert set(failures) == {"theirs"}
    assert isinstance(failures["theirs"], errors.EndpointNotOwnedError)
    names = sorted(e.name for e in reg.list_endp("prod", "web"))
    assert names == ["mine", "theirs"]
