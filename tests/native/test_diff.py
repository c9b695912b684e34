"""Detailed diffs keyed by endpoint name: paths the engine resolves against the old outputs
(removed endpoints) and the new inputs (added and changed ones), both sorted by name."""

from __future__ import annotations

from pulumi.runtime.proto import provider_pb2 as pb

from servregistry.native.diff import ADD, DELETE, UPDATE, detailed_diff, endpoint_diff
from servregistry.native.properties import input_names


def endpoints(*specs: tuple[str, int]) -> list[dict[str, object]]:
    return [{"name": n, "address": "10.0.0.1", "port": p, "metadata": {}} for n, p in specs]


def test_removing_one_in_the_middle_names_only_it() -> None:
    old = endpoints(("a", 1), ("b", 2), ("c", 3), ("d", 4))
    new = endpoints(("a", 1), ("c", 3), ("d", 4))
    assert endpoint_diff(old, new) == {"endpoints[1]": DELETE}


def test_an_addition_before_a_change_shows_the_change_at_both_places() -> None:
    old = endpoints(("b", 2), ("c", 3))
    new = endpoints(("a", 1), ("b", 2), ("c", 30))
    assert endpoint_diff(old, new) == {
        "endpoints[0]": ADD,
        "endpoints[1]": DELETE,  # c, where the state holds it
        "endpoints[2]": ADD,  # c, where the inputs hold it
    }


def test_a_change_in_place_and_number_types_are_compared_as_numbers() -> None:
    old = endpoints(("a", 1), ("b", 2))
    new = endpoints(("a", 1), ("b", 2))
    new[0]["port"] = 1.0
    new[1]["metadata"] = {"zone": "b"}
    assert endpoint_diff(old, new) == {"endpoints[1]": UPDATE}


def test_settings_are_listed_only_when_they_replace() -> None:
    token = "servregistry:index:RegistryNamespace"
    olds = {"name": "a", "ownerKey": "owner", "registry": "sqlite:///x.db", "metadata": {}}
    news = {"name": "a", "metadata": {"k": "v"}}
    assert detailed_diff(olds, news, input_names(token), []) == {"metadata": ADD}
    replaced = detailed_diff(olds, {**news, "name": "b"}, input_names(token), ["name", "registry"])
    assert replaced == {
        "metadata": ADD,
        "name": pb.PropertyDiff.UPDATE_REPLACE,
        "registry": pb.PropertyDiff.DELETE_REPLACE,
    }
