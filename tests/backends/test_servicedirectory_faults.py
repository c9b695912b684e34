"""An endpoint set interrupted by failures (the emulator's fault injection: errors on some
writes, then the registry going out of reach part-way) leaves only valid data of ours, each
endpoint as one of its declarations and never a mix, the foreign endpoint untouched; the next
run converges and the one after writes nothing."""

from __future__ import annotations

import grpc

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.servicedirectory import ServiceDirectoryRegistry
from servregistry.emulators.servicedirectory import ServiceDirectoryEmulator

BARE = {"owner": "someone-else"}
WRITES = ("CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint")


def declared(names: range, prefix: str, version: str) -> list[Endpoint]:
    return [
        Endpoint(
            f"{prefix}{i:02d}", "prod", "web", f"10.0.{i}.{len(version)}", 8000 + i, {"v": version}
        )
        for i in names
    ]


def test_an_interrupted_set_leaves_valid_owned_data_and_the_next_run_converges(
    servicedirectory_server: str, servicedirectory_emulator: ServiceDirectoryEmulator
) -> None:
    reg = ServiceDirectoryRegistry(
        "p-faults", "r", endpoint=servicedirectory_server, concurrency=4, timeout=10
    )
    emulator = servicedirectory_emulator
    broker = Broker(reg)
    broker.manage_ns(Namespace("prod"))
    broker.manage_serv(Service("web", "prod"))
    reg.client.create_endpoint(  # another tool's endpoint: annotations, no address, no port
        parent=reg.native_id(Service("web", "prod")),
        endpoint_id="billing",
        endpoint={"annotations": BARE},
    )
    names = {"name": "billing", "ns_name": "prod", "serv_name": "web"}
    bare = Endpoint.stored({**names, "address": "", "port": 0, "metadata": BARE})
    first = declared(range(12), "e", "1")
    assert list(broker.manage_serv_endps("prod", "web", first)) == ["billing"]

    # update e00-e05, delete e06-e11, create n00-n07: some writes fail, and the registry is
    # out of reach by the time the creates start (they are sent last)
    second = declared(range(6), "e", "22") + declared(range(8), "n", "22")
    emulator.fail_next("UpdateEndpoint", grpc.StatusCode.INTERNAL, 2)
    emulator.fail_next("DeleteEndpoint", grpc.StatusCode.ABORTED, 2)
    emulator.fail_next("CreateEndpoint", grpc.StatusCode.UNAVAILABLE, 1000)
    failures = broker.manage_serv_endps("prod", "web", second)
    emulator.clear_faults()
    assert isinstance(failures["billing"], errors.EndpointNotOwnedError)
    failed = {n: type(e).__name__ for n, e in failures.items() if n != "billing"}
    assert sum(t == "BackendError" for t in failed.values()) == 4  # the injected errors
    assert all(failed.get(e.name) == "RegistryUnavailableError" for e in second[6:])
    not_attempted = [n for n, e in failures.items() if str(e).startswith("not attempted")]
    print(f"interrupted run: {len(failed)} of 22 writes failed, {len(not_attempted)} not attempted")

    allowed = {(e.name, e.address, e.port, tuple(e.metadata.items())) for e in first + second}
    for endp in reg.list_endp("prod", "web"):
        if endp.name == "billing":
            assert endp == bare
            continue
        assert broker.owns(endp)
        mine = broker.user_metadata(endp.metadata)
        assert (endp.name, endp.address, endp.port, tuple(mine.items())) in allowed

    assert list(broker.manage_serv_endps("prod", "web", second)) == ["billing"]
    listed = {e.name: e for e in reg.list_endp("prod", "web")}
    assert listed.pop("billing") == bare
    assert sorted(listed) == sorted(e.name for e in second)
    for want in second:
        got = listed[want.name]
        assert (got.address, got.port, broker.user_metadata(got.metadata)) == (
            want.address,
            want.port,
            want.metadata,
        )
    before = {w: emulator.calls[w] for w in WRITES}
    assert list(broker.manage_serv_endps("prod", "web", second)) == ["billing"]
    assert {w: emulator.calls[w] for w in WRITES} == before
    reg.close()
