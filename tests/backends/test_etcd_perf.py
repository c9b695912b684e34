"""Work, not time: a single-object call on etcd costs the same whatever the registry's caches
hold. The caches are observed through dicts that count every entry anything iterates over."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from servregistry import Broker, Endpoint, Namespace, Service, errors
from servregistry.backends.etcd import EtcdRegistry, layout

MAX_OPS = 128


class CountingDict(dict[Any, Any]):
    """A dict that counts the entries iterated over (keys, values or items)."""

    visited = 0

    def __iter__(self) -> Iterator[Any]:
        for key in super().__iter__():
            CountingDict.visited += 1
            yield key

    def keys(self) -> Any:
        return list(iter(self))

    def values(self) -> Any:
        return [self[k] for k in self]

    def items(self) -> Any:
        return [(k, self[k]) for k in self]


def count_cache(reg: EtcdRegistry) -> None:
    """From now on, count the cache entries (and groups) anything iterates over."""
    cache = reg._cache
    groups = CountingDict({parent: CountingDict(group) for parent, group in cache._groups.items()})
    cache._groups = groups
    CountingDict.visited = 0


def fill(reg: EtcdRegistry, serv: str, n: int) -> list[str]:
    """``n`` endpoints of ``serv`` written with bare puts, then listed (so cached); their names."""
    broker = Broker(reg)
    broker.manage_serv(Service(serv, "perf"))
    tx = reg.client.transactions
    stamp = broker.stamp
    endps = [
        stamp(Endpoint(f"e{i:05d}", "perf", serv, f"10.0.{i // 256}.{i % 256}", 80))
        for i in range(n)
    ]
    puts = [tx.put(layout.key_of(reg.prefix, e), layout.encode(e)) for e in endps]
    for start in range(0, n, MAX_OPS):
        reg.client.transaction([], puts[start : start + MAX_OPS])
    assert len(reg.list_endp("perf", serv)) == n
    return [e.name for e in endps]


@pytest.fixture
def perf_registry(etcd_registry: EtcdRegistry) -> EtcdRegistry:
    Broker(etcd_registry).manage_ns(Namespace("perf"))
    return etcd_registry


@pytest.mark.parametrize("cached", [50, 3000])
def test_deleting_endpoints_one_by_one_visits_no_cache_entry(
    perf_registry: EtcdRegistry, cached: int
) -> None:
    reg = perf_registry
    fill(reg, "big", cached)
    names = fill(reg, "web", 40)
    assert len(reg._cache) >= cached + 40
    count_cache(reg)
    for name in names:
        reg.delete_endp("perf", "web", name)
    assert CountingDict.visited == 0
    assert len(reg._cache) >= cached  # the other service's entries are kept
    assert reg.list_endp("perf", "web") == []


@pytest.mark.parametrize("cached", [50, 3000])
def test_single_object_calls_visit_no_cache_entry(perf_registry: EtcdRegistry, cached: int) -> None:
    reg = perf_registry
    fill(reg, "big", cached)
    count_cache(reg)
    endp = Broker(reg).stamp(Endpoint("one", "perf", "web2", "10.1.0.1", 80))
    reg.create_serv(Service("web2", "perf"))
    reg.create_endp(endp)
    reg.get_endp("perf", "web2", "one")
    reg.update_endp(endp.model_copy(update={"port": 81}))
    with pytest.raises(errors.AlreadyExistsError):
        reg.create_endp(endp)
    reg.delete_endp("perf", "web2", "one")
    reg.delete_serv("perf", "web2")
    assert CountingDict.visited == 0


def test_deleting_a_service_visits_its_own_entries_only(perf_registry: EtcdRegistry) -> None:
    reg = perf_registry
    fill(reg, "big", 2000)
    fill(reg, "small", 7)
    count_cache(reg)
    Broker(reg).remove_serv("perf", "small", force_not_empty=True)
    assert CountingDict.visited <= 7
    assert len(reg._cache) >= 2000
    with pytest.raises(errors.NotFoundError):
        reg.get_serv("perf", "small")


def test_an_update_after_a_listing_is_still_guarded_on_the_revision_read(
    perf_registry: EtcdRegistry,
) -> None:
    """The cache that makes listing cheap is the guard: a change made by someone else after
    our read makes our write fail, however many entries the cache holds."""
    reg = perf_registry
    names = fill(reg, "web", 500)
    key = layout.endp_key(reg.prefix, "perf", "web", names[123])
    stored = reg.get_endp("perf", "web", names[123])
    reg.client.put(key, layout.encode(stored.model_copy(update={"port": 99})))
    with pytest.raises(errors.ConflictError):
        reg.update_endp(stored.model_copy(update={"port": 100}))


def test_an_endpoint_value_parsed_in_one_match_reads_as_the_line_parser_reads_it() -> None:
    """The one-pattern parse of an endpoint value (what makes a cold listing cheap) gives the
    same document as the line parser, and takes every plain value we write."""
    rng = random.Random(7)
    plain = "abcXYZ019_.:/-"
    texts: list[str] = []
    for i in range(2000):
        word = "".join(rng.choice(plain) for _ in range(rng.randint(1, 12)))
        metadata = {
            f"k{j}{word if j % 2 else ''}": rng.choice([word, "yes", "100", "v"])
            for j in range(i % 4)
        }
        endp = Endpoint.stored(
            {
                "name": f"e{i}{word}".rstrip(":"),
                "ns_name": "perf",
                "serv_name": "web",
                "address": rng.choice(["10.0.0.1", "::1", "fe80::1", "host.example"]),
                "port": rng.choice([0, 80, 65535]),
                "metadata": metadata,
            }
        )
        texts.append(layout.encode(endp).decode())
    texts += [
        "name: a\nserviceName: s\nnamespaceName: n\nmetadata:\n    a:: c\naddress: b\nport: 1\n",
        "name: a\nserviceName: s\nnamespaceName: n\nmetadata:\naddress: b\nport: 1\n",
        "name: a\nserviceName: s\nnamespaceName: n\nmetadata: {}\naddress: b\nport: 99999999\n",
    ]
    matched = 0
    for text in texts:
        fast = layout._endpoint_decode(text)
        if fast is not None:
            matched += 1
            assert fast == layout._line_decode(text), text
        assert layout._fast_decode(text) == (fast or layout._line_decode(text))
    assert matched > len(texts) // 4  # values with plain scalars only take the one-match path
