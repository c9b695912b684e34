"""Objects read from a registry are represented as stored; objects we write are validated."""

from pathlib import Path

import pytest

from servregistry import errors
from servregistry.model import Endpoint, Namespace, Service


def _endp(**extra: object) -> dict[str, object]:
    return {"name": "a", "ns_name": "n", "serv_name": "s", **extra}


@pytest.mark.parametrize("address", ["", "db.internal"])
def test_stored_endpoint_keeps_an_address_we_would_not_write(address: str) -> None:
    endp = Endpoint.stored(_endp(address=address, port=80, metadata={"k": "v"}))
    assert (endp.address, endp.port, endp.metadata, endp.unreadable) == (
        address,
        80,
        {"k": "v"},
        "",
    )
    with pytest.raises(errors.InvalidInputError, match=r"endpoint\.address"):
        Endpoint("a", "n", "s", address, 80)


def test_stored_still_checks_the_shape() -> None:
    with pytest.raises(errors.InvalidInputError, match=r"endpoint\.port"):
        Endpoint.stored(_endp(address="10.0.0.1", port=70000))


def test_unreadable_placeholder_has_no_owner_and_names_the_reason() -> None:
    endp = Endpoint.stored(_endp(), unreadable="invalid YAML")
    assert (endp.address, endp.port, endp.metadata) == ("", 0, {})
    assert endp.unreadable == "invalid YAML"
    assert Namespace.stored({"name": "x"}, unreadable="bad").unreadable == "bad"
    assert Service.stored({"name": "x", "ns_name": "n"}).unreadable == ""


def test_validation_outside_stored_is_unchanged_after_a_stored_read() -> None:
    Endpoint.stored(_endp(address="db.internal", port=1))
    with pytest.raises(errors.InvalidInputError):
        Endpoint("a", "n", "s", "db.internal", 1)


def test_the_broker_names_why_an_unreadable_endpoint_is_left_alone(tmp_path: Path) -> None:
    from servregistry import Broker
    from servregistry.backends.sqlite import SqliteRegistry

    reg = SqliteRegistry(tmp_path / "r.db")
    broker = Broker(reg)
    broker.manage_ns(Namespace("n"))
    broker.manage_serv(Service("s", "n"))
    placeholder = Endpoint.stored(_endp(), unreadable="invalid YAML")
    assert not broker.owns(placeholder)
    assert "invalid YAML" in broker.describe_owner(placeholder)
