"""Registry URLs: every scheme refuses unknown or malformed options before connecting, naming
the option; locations ignore connection-only options."""

from __future__ import annotations

import pickle

import pytest

from servregistry import errors, open_registry
from servregistry.registry import registry_location


@pytest.mark.parametrize(
    ("url", "field", "rule"),
    [
        ("sqlite:///tmp/r.db?timeout=soon", "registry.timeout", "'soon' is not a valid float"),
        ("sqlite:///tmp/r.db?mode=ro", "registry", "unknown sqlite URL options: mode"),
        ("etcd://127.0.0.1:2379/?timeout=x", "registry.timeout", "'x' is not a valid float"),
        ("etcd://127.0.0.1:2379/?pasword=x", "registry", "unknown etcd URL options: pasword"),
        ("cloudmap://eu-west-1?concurrency=many", "registry.concurrency", "not a valid int"),
        ("cloudmap://eu-west-1?concurrency=0", "registry.concurrency", "must be >= 1"),
        ("cloudmap://eu-west-1?region=x", "registry", "known: concurrency, endpoint_url"),
        ("servicedirectory://p/r?timeout=-", "registry.timeout", "not a valid float"),
        ("servicedirectory://p/r?endpoint_url=x", "registry", "unknown servicedirectory URL"),
    ],
)
def test_bad_url_options_name_the_option(url: str, field: str, rule: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        open_registry(url)
    assert caught.value.field == field
    assert rule in caught.value.rule


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///tmp/r.db?timeout=5",
        "etcd://127.0.0.1:2379/p?timeout=3&user=u",
        "cloudmap://eu-west-1?concurrency=3&operation_timeout=9",
        "servicedirectory://p/r?endpoint=127.0.0.1:1&timeout=2",
    ],
)
def test_registries_pickle_as_their_configuration(url: str) -> None:
    reg = open_registry(url)
    copy = pickle.loads(pickle.dumps(reg))
    config = {k: v for k, v in vars(reg).items() if not k.startswith("_")}
    assert {k: v for k, v in vars(copy).items() if not k.startswith("_")} == config
    assert all(not k.startswith("_") for k in reg.__getstate__())  # type: ignore[attr-defined]
    assert hasattr(copy, "_lock")  # runtime state recreated
    assert registry_location(url) == registry_location(url.split("?")[0])
