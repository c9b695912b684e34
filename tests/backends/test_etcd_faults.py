"""Faults on a real three-member etcd cluster and a real single etcd: members killed (-9) or
frozen (SIGSTOP) in the middle of a 3,000-endpoint set, the leader killed, quorum lost, etcd
restarted. Every outcome is either success through another member or an error of
servregistry.errors; the next run converges; no foreign key is ever written (checked byte for
byte with its create and mod revisions)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.etcd import EtcdRegistry, layout
from tests.fixtures.etcd import EtcdCluster, EtcdMember, snapshot

TIMEOUT = 5.0
SET_SIZE = 3000
#: figures for the README, printed at the end of the module
FIGURES = {"cases": 0, "faults injected": 0, "foreign writes": 0}


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    print(f"\netcd fault suite: {FIGURES}")


def desired(port: int = 80, n: int = SET_SIZE) -> list[Endpoint]:
    return [
        Endpoint(f"e{i:05d}", "prod", "web", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", port)
        for i in range(n)
    ]


class Scene:
    """A fresh prefix on the cluster: namespace prod and service web of ours, plus foreign
    endpoints in the service that must never change."""

    def __init__(self, cluster: EtcdCluster) -> None:
        self.cluster = cluster
        self.prefix = f"/faults-{uuid.uuid4().hex[:10]}/"
        self.reg = cluster.registry(self.prefix, timeout=TIMEOUT)
        broker = Broker(self.reg)
        broker.manage_ns(Namespace("prod"))
        broker.manage_serv(Service("web", "prod"))
        for i in range(3):
            theirs = Endpoint(f"theirs-{i}", "prod", "web", "10.200.0.1", 1, {"owner": "other"})
            self.reg.client.put(layout.key_of(self.prefix, theirs), layout.encode(theirs))
        self.foreign = self.foreign_now()
        FIGURES["cases"] += 1

    def hosts(self) -> list[str]:
        return [m.client_url for m in self.cluster.members if m.running]

    def foreign_now(self) -> dict[bytes, tuple[bytes, int, int]]:
        base = layout.serv_key(self.prefix, "prod", "web") + "/endpoints/theirs-"
        return snapshot(self.hosts(), base)

    def in_use(self) -> EtcdMember:
        client = self.reg.client
        netloc = client._members[client._preferred].netloc
        return next(m for m in self.cluster.members if m.client_url == netloc)

    def run(self, endpoints: list[Endpoint]) -> dict[str, errors.ServiceRegistryError]:
        return Broker(self.reg).manage_serv_endps("prod", "web", endpoints)

    def converge(self, endpoints: list[Endpoint]) -> None:
        """The next run (a fresh registry, as a new `pulumi up` would be) converges, and no
        foreign key was written at any point."""
        fresh = self.cluster.registry(self.prefix, timeout=TIMEOUT)
        try:
            failures = Broker(fresh).manage_serv_endps("prod", "web", endpoints)
            assert sorted(failures) == ["theirs-0", "theirs-1", "theirs-2"], failures
            assert all(isinstance(e, errors.EndpointNotOwnedError) for e in failures.values())
            stored = {e.name: (e.address, e.port) for e in fresh.list_endp("prod", "web")}
            wanted = {e.name: (e.address, e.port) for e in endpoints}
            assert {k: v for k, v in stored.items() if not k.startswith("theirs")} == wanted
        finally:
            fresh.close()
        if self.foreign_now() != self.foreign:
            FIGURES["foreign writes"] += 1
        assert self.foreign_now() == self.foreign

    def close(self) -> None:
        self.reg.close()


@pytest.fixture
def scene(cluster: EtcdCluster) -> Iterator[Scene]:
    s = Scene(cluster)
    yield s
    s.close()


def fault_during_set(scene: Scene, fault: Callable[[], None], after_txns: int = 6) -> Any:
    """Run a 3,000-endpoint set; inject ``fault`` just before its ``after_txns``-th
    transaction is sent. Returns the failures, or the ServiceRegistryError raised."""
    client = scene.reg.client
    real = client.transaction
    count = 0
    lock = threading.Lock()

    def transaction(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        with lock:
            count += 1
            if count == after_txns:
                fault()
                FIGURES["faults injected"] += 1
        return real(*args, **kwargs)

    client.transaction = transaction  # type: ignore[method-assign]
    try:
        return scene.run(desired())
    except errors.ServiceRegistryError as exc:
        return exc
    finally:
        client.transaction = real  # type: ignore[method-assign]


def check_outcome(outcome: Any) -> None:
    """Success, per-endpoint library errors, or one library error: nothing else."""
    if isinstance(outcome, errors.ServiceRegistryError):
        return
    assert isinstance(outcome, dict)
    foreign = {k for k, v in outcome.items() if isinstance(v, errors.EndpointNotOwnedError)}
    assert foreign == {"theirs-0", "theirs-1", "theirs-2"}
    assert all(isinstance(v, errors.ServiceRegistryError) for v in outcome.values())


def test_a_fresh_registry_works_with_any_one_member_down(cluster: EtcdCluster) -> None:
    """Quorum intact, one member killed: every fresh registry (whichever member it starts
    on) reads and writes through the others."""
    prefix = f"/one-down-{uuid.uuid4().hex[:8]}/"
    for victim in cluster.members:
        cluster.heal()
        victim.kill()
        FIGURES["faults injected"] += 1
        for i in range(4):
            reg = cluster.registry(prefix, timeout=TIMEOUT)
            try:
                Broker(reg).manage_ns(Namespace(f"{victim.name}-{i}"))
                assert reg.get_ns(f"{victim.name}-{i}").name == f"{victim.name}-{i}"
            finally:
                reg.close()
            FIGURES["cases"] += 1


def test_a_fresh_registry_works_with_a_frozen_member(cluster: EtcdCluster) -> None:
    """A member that accepts connections and answers nothing (SIGSTOP) costs its share of
    the deadline, then the call moves on."""
    cluster.members[0].stop()
    FIGURES["faults injected"] += 1
    prefix = f"/frozen-{uuid.uuid4().hex[:8]}/"
    for i in range(2):
        reg = cluster.registry(prefix, timeout=3.0)
        try:
            started = time.monotonic()
            Broker(reg).manage_ns(Namespace(f"n{i}"))
            assert reg.get_ns(f"n{i}").name == f"n{i}"
            assert time.monotonic() - started < 6
        finally:
            reg.close()
        FIGURES["cases"] += 1


@pytest.mark.parametrize("victim", ["in use", "leader"])
def test_killing_a_member_mid_set(scene: Scene, victim: str) -> None:
    def fault() -> None:
        (scene.in_use() if victim == "in use" else scene.cluster.leader()).kill()

    check_outcome(fault_during_set(scene, fault))
    scene.converge(desired())  # with the member still down: quorum is intact
    scene.cluster.heal()
    scene.converge(desired(port=81))


def test_killing_the_leader_mid_set_the_same_registry_carries_on(scene: Scene) -> None:
    check_outcome(fault_during_set(scene, lambda: scene.cluster.leader().kill()))
    # the same registry, at once, while the cluster is healthy without the old leader
    failures = scene.run(desired(port=82))
    assert sorted(failures) == ["theirs-0", "theirs-1", "theirs-2"]
    scene.converge(desired(port=82))


def test_freezing_the_member_in_use_mid_set(scene: Scene) -> None:
    frozen: list[EtcdMember] = []

    def fault() -> None:
        member = scene.in_use()
        member.stop()
        frozen.append(member)

    outcome = fault_during_set(scene, fault)
    check_outcome(outcome)
    frozen[0].cont()
    scene.converge(desired())


def test_losing_quorum_times_out_and_writes_nothing(scene: Scene) -> None:
    cluster = scene.cluster
    Broker(scene.reg).manage_serv_endps("prod", "web", desired(n=200))
    before = snapshot(scene.hosts(), scene.prefix)
    survivor = cluster.members[0]
    for member in cluster.members[1:]:
        member.kill()
        FIGURES["faults injected"] += 1
    time.sleep(1.5)  # the survivor, if it led, steps down (check-quorum)
    for call in (
        lambda: scene.run(desired(port=90, n=300)),
        lambda: scene.reg.list_endp("prod", "web"),
        lambda: Broker(scene.reg).remove_serv("prod", "web", force_not_empty=True),
    ):
        started = time.monotonic()
        with pytest.raises(errors.RegistryTimeoutError):
            call()
        assert time.monotonic() - started < TIMEOUT + 1.5  # one deadline
        FIGURES["cases"] += 1
    assert survivor.running
    cluster.heal()
    assert snapshot(scene.hosts(), scene.prefix) == before  # nothing was written
    scene.converge(desired(port=91))


def test_a_call_right_after_a_restart_works(cluster: EtcdCluster) -> None:
    """One member named in the URL, killed then restarted: calls fail fast as unavailable
    while it is down, and the same registry works as soon as it is back (no failed-node
    penalty, no gRPC reconnect backoff)."""
    member = cluster.members[1]
    reg = EtcdRegistry([member.client_url], prefix=f"/restart-{uuid.uuid4().hex[:8]}/")
    try:
        reg.create_ns(Namespace("before"))
        member.kill()
        FIGURES["faults injected"] += 1
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(errors.RegistryUnavailableError):
                reg.list_ns()
            assert time.monotonic() - started < 2
        member.start()
        cluster.wait_healthy()
        reg.create_ns(Namespace("after"))  # the very next call
        assert [n.name for n in reg.list_ns()] == ["after", "before"]
        FIGURES["cases"] += 1
    finally:
        reg.close()


def test_every_member_down_fails_fast_as_unavailable(cluster: EtcdCluster) -> None:
    reg = cluster.registry("/all-down/", timeout=TIMEOUT)
    try:
        reg.list_ns()
        for member in cluster.members:
            member.kill()
            FIGURES["faults injected"] += 1
        started = time.monotonic()
        with pytest.raises(errors.RegistryUnavailableError, match="cannot reach etcd"):
            reg.list_ns()
        assert time.monotonic() - started < 2
        cluster.heal()
        assert reg.list_ns() == []
        FIGURES["cases"] += 1
    finally:
        reg.close()
