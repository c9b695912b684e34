"""Fuzz the model and the URL grammar, without a server: every input is either accepted and
kept exactly, or refused with a servregistry error naming a field. A URL that carries a password
is always refused, and the password never appears in a message, a repr, a pickle or a
location."""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from servregistry import Endpoint, MetadataPair, Namespace, Service, errors, open_registry
from servregistry.registry import registry_location
from tests.fixtures.fuzz import (
    PASSWORD,
    Tally,
    addresses,
    any_text,
    dns_label,
    examples,
    metadata,
    metadata_keys,
    metadata_values,
    names,
    ports,
    tally_fixture,  # noqa: F401 - the fixture
)


@settings(max_examples=examples(400))
@given(
    kind=st.sampled_from(["ns", "serv", "endp", "pair"]),
    name=names,
    ns_name=names,
    serv_name=names,
    address=addresses,
    port=ports,
    meta=metadata,
    pair=st.tuples(metadata_keys, metadata_values),
)
def test_model_objects(
    tally: Tally,
    kind: str,
    name: str,
    ns_name: str,
    serv_name: str,
    address: str,
    port: int,
    meta: dict[str, str],
    pair: tuple[str, str],
) -> None:
    tally.example()
    obj: Any
    try:
        if kind == "ns":
            obj = Namespace(name, meta)
        elif kind == "serv":
            obj = Service(name, ns_name, meta)
        elif kind == "endp":
            obj = Endpoint(name, ns_name, serv_name, address, port, meta)
        else:
            obj = MetadataPair(*pair)
    except errors.InvalidInputError as exc:
        assert exc.field, exc
        str(exc).encode("utf-8")  # printable: a refused string is shown escaped
        tally.refuse(exc)
        return
    if kind == "pair":
        assert (obj.key, obj.value) == pair
        assert MetadataPair(key=pair[0], value=pair[1]) == obj
    else:
        assert obj.name == name and obj.metadata == meta
        assert type(obj).stored(obj.model_dump()) == obj  # what a backend rebuilds is equal
        for text in (obj.name, *obj.metadata, *obj.metadata.values()):
            text.encode("utf-8")  # every accepted string is storable as UTF-8
        assert "\x00" not in obj.model_dump_json()
    if kind == "endp":
        assert (obj.address, obj.port, obj.ns_name, obj.serv_name) == (
            address,
            port,
            ns_name,
            serv_name,
        )
    assert pickle.loads(pickle.dumps(obj)) == obj
    tally.accept()


#: a valid host part and path per scheme, which the drawn parts below may replace
VALID = {
    "sqlite": ("", "/tmp/fuzz/registry.db"),
    "etcd": ("127.0.0.1:2379,[::1]:2379", "/prefix"),
    "etcds": ("127.0.0.1:2379", ""),
    "cloudmap": ("eu-west-1", ""),
    "servicedirectory": ("proj", "/us-central1"),
}
OPTIONS = {
    "sqlite": ["timeout"],
    "etcd": ["timeout", "user", "prefix", "ca_cert"],
    "etcds": ["timeout", "user", "prefix", "ca_cert", "cert_key", "cert_cert"],
    "cloudmap": ["endpoint_url", "profile", "concurrency", "operation_timeout"],
    "servicedirectory": ["endpoint", "concurrency", "timeout"],
}
hosts = st.one_of(
    dns_label,
    st.sampled_from(["", "[::1", "[::1]:2379", "h:99999", "h:-1", "h:x", "h:1,", "a b"]),
    any_text,
)
option_values = st.one_of(
    st.sampled_from(["1", "2.5", "30", "0", "-1", "nan", "inf", "-inf", "1e999", "1_0", "", "x"]),
    st.integers(-5, 50).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.just(f"http://u:{PASSWORD}@127.0.0.1:5000"),
    st.just("http://127.0.0.1:5000"),
    any_text,
)
other_keys = st.sampled_from(["password", "region", "mode", "Timeout", ""])


@st.composite
def registry_urls(draw: st.DrawFn) -> tuple[str, bool]:
    """A URL, mostly well-formed with one part drawn from hostile values, and whether it
    carries the password."""
    scheme = draw(st.sampled_from(sorted(VALID)))
    host, path = VALID[scheme]
    keys = st.one_of(st.sampled_from(OPTIONS[scheme]), other_keys)
    options = draw(st.dictionaries(keys, option_values, max_size=2))
    userinfo = ""
    spoil = draw(st.sampled_from(["none", "none", "scheme", "userinfo", "host", "path"]))
    if spoil == "scheme":
        scheme = draw(st.one_of(st.just(scheme.upper()), any_text))
    elif spoil == "userinfo":
        userinfo = draw(st.sampled_from([f"u:{PASSWORD}@", f"{PASSWORD}@", f":{PASSWORD}@"]))
    elif spoil == "host":
        host = draw(hosts)
    elif spoil == "path":
        path = draw(st.one_of(st.just(""), st.just("/"), names.map("/{}".format)))
    query = "&".join(f"{k}={v}" for k, v in options.items())
    url = f"{scheme}://{userinfo}{host}{path}" + (f"?{query}" if query else "")
    return url, PASSWORD in url


@settings(max_examples=examples(400))
@given(case=registry_urls())
def test_registry_urls(tally: Tally, case: tuple[str, bool]) -> None:
    url, has_password = case
    tally.example()
    try:
        registry = open_registry(url)
        location = registry_location(url)
    except errors.ServiceRegistryError as exc:
        assert PASSWORD not in str(exc)
        assert isinstance(exc, errors.InvalidInputError), exc
        tally.refuse(exc)
        return
    assert not has_password, f"{url!r} was accepted"
    copy = pickle.loads(pickle.dumps(registry))
    assert repr(copy) == repr(registry)
    for shown in (repr(registry), pickle.dumps(registry).decode("latin-1"), location):
        assert PASSWORD not in shown
    for option in ("timeout", "operation_timeout", "concurrency"):
        value = getattr(registry, option, None)
        assert value is None or 0 < value < float("inf")
    registry.close()
    tally.accept()
