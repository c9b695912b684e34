"""Registry URLs: every scheme refuses unknown or malformed options before connecting, naming
the option; credentials never travel in a URL, nor into a message, repr, pickle or location;
locations ignore connection-only options."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servregistry import errors, open_registry
from servregistry.registry import registry_location
from servregistry.urls import (
    CloudMapUrl,
    EtcdUrl,
    ServiceDirectoryUrl,
    SqliteUrl,
    parse_prefix,
    parse_url,
)


@pytest.mark.parametrize(
    ("url", "field", "rule"),
    [
        ("sqlite:///tmp/r.db?timeout=soon", "registry.timeout", "'soon' is not a valid float"),
        ("sqlite:///tmp/r.db?mode=ro", "registry", "unknown sqlite URL options: mode"),
        ("etcd://127.0.0.1:2379/?timeout=x", "registry.timeout", "'x' is not a valid float"),
        ("etcd://127.0.0.1:2379/?pasword=x", "registry", "unknown etcd URL options: pasword"),
        ("cloudmap://eu-west-1?concurrency=many", "registry.concurrency", "not a valid int"),
        (
            "cloudmap://eu-west-1?concurrency=0",
            "registry.concurrency",
            "must be a finite number > 0",
        ),
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
    assert any(k.startswith("_") for k in vars(copy))  # runtime state recreated
    assert registry_location(url) == registry_location(url.split("?")[0])


SECRET = "pa55-w0rd-Zq"
URLS = [
    "sqlite:///tmp/r.db",
    "etcd://127.0.0.1:2379/p",
    "etcds://127.0.0.1:2379/p",
    "cloudmap://eu-west-1",
    "servicedirectory://proj/us-central1",
]


def _with_userinfo(url: str, userinfo: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{userinfo}@{rest}"


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("userinfo", [f"admin:{SECRET}", SECRET, f":{SECRET}", f"a@b:{SECRET}"])
def test_credentials_in_a_url_are_refused_without_being_repeated(url: str, userinfo: str) -> None:
    bad = _with_userinfo(url, userinfo)
    for call in (open_registry, registry_location):
        with pytest.raises(errors.InvalidInputError) as caught:
            call(bad)
        assert caught.value.field == "registry"
        assert "must not carry credentials" in caught.value.rule
        assert SECRET not in str(caught.value)
        assert SECRET not in repr(caught.value)
        assert caught.value.__cause__ is None or SECRET not in str(caught.value.__cause__)


@pytest.mark.parametrize(
    "bad",
    [
        f"cloudmap://eu-west-1?endpoint_url=http://u:{SECRET}@127.0.0.1:5000",
        f"servicedirectory://p/r?endpoint=grpc://u:{SECRET}@127.0.0.1:1",
        f"user:{SECRET}@127.0.0.1:2379",
        f"etcd:u:{SECRET}@127.0.0.1:2379",
        f"u:{SECRET}@etcd://127.0.0.1:2379",
    ],
)
def test_credentials_anywhere_in_a_url_never_reach_a_message(bad: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        open_registry(bad)
    assert SECRET not in str(caught.value)


def test_an_etcd_password_never_travels_with_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVREGISTRY_ETCD_PASSWORD", SECRET)
    reg: Any = open_registry("etcd://127.0.0.1:2379/p?user=admin")
    reg.use_password(SECRET)
    for shown in (repr(reg), pickle.dumps(reg).decode("latin-1"), str(reg.__getstate__())):
        assert SECRET not in shown


@pytest.mark.parametrize(
    ("url", "option"),
    [
        ("sqlite:///tmp/r.db?timeout={}", "timeout"),
        ("etcd://127.0.0.1:2379/p?timeout={}", "timeout"),
        ("cloudmap://eu-west-1?operation_timeout={}", "operation_timeout"),
        ("cloudmap://eu-west-1?concurrency={}", "concurrency"),
        ("servicedirectory://p/r?timeout={}", "timeout"),
        ("servicedirectory://p/r?concurrency={}", "concurrency"),
    ],
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "0.0", "1e999"])
def test_numeric_options_must_be_finite_and_positive(url: str, option: str, value: str) -> None:
    if option == "concurrency" and value not in ("0", "-1"):
        value = "x" + value  # not an int at all: refused by the int rule
    with pytest.raises(errors.InvalidInputError) as caught:
        open_registry(url.format(value))
    assert caught.value.field == f"registry.{option}"


@pytest.mark.parametrize(
    "url",
    ["etcd://[::1/p", "etcd://127.0.0.1:99999/p", "etcd://127.0.0.1:x/p", "sqlite:///a\x00b.db"],
)
def test_malformed_urls_are_refused_naming_the_registry(url: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        open_registry(url)
    assert caught.value.field == "registry"


# round trips: every URL dataclass parses its own ``.url`` back to itself -----------------------

_HOST = st.from_regex(r"[a-z][a-z0-9-]{0,12}(\.[a-z0-9-]{1,8}){0,2}", fullmatch=True)
_PORT = st.integers(1, 65535)
_WORD = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
_SECONDS = st.none() | st.floats(0.01, 1e4, allow_nan=False).map(lambda f: round(f, 3))


@given(
    endpoints=st.lists(st.builds("{}:{}".format, _HOST, _PORT), min_size=1, max_size=3),
    prefix=st.none() | st.lists(_WORD, max_size=3).map(lambda p: "/" + "/".join(p) + "/"),
    user=st.none() | _WORD,
    tls=st.booleans(),
    timeout=_SECONDS,
)
def test_etcd_urls_round_trip(
    endpoints: list[str], prefix: str | None, user: str | None, tls: bool, timeout: float | None
) -> None:
    url = EtcdUrl(endpoints, prefix, user=user, tls=tls, timeout=timeout)
    assert EtcdUrl.parse(url.url) == url
    assert parse_url(url.url) == url
    assert url.location == f"etcd:{parse_prefix(prefix)}"
    # connection details are not part of the location
    assert EtcdUrl(["other:1"], prefix).location == url.location


@given(region=_WORD, profile=st.none() | _WORD, concurrency=st.none() | st.integers(1, 64))
def test_cloudmap_urls_round_trip(
    region: str, profile: str | None, concurrency: int | None
) -> None:
    url = CloudMapUrl(
        region, endpoint_url="http://127.0.0.1:5000", profile=profile, concurrency=concurrency
    )
    assert parse_url(url.url) == url
    assert url.location == f"cloudmap:{region}" == CloudMapUrl(region).location


@given(project=_WORD, region=_WORD, timeout=_SECONDS)
def test_servicedirectory_urls_round_trip(project: str, region: str, timeout: float | None) -> None:
    url = ServiceDirectoryUrl(project, region, endpoint="127.0.0.1:9", timeout=timeout)
    assert parse_url(url.url) == url
    assert url.location == ServiceDirectoryUrl(project, region).location


@given(name=_WORD, timeout=_SECONDS)
def test_sqlite_urls_round_trip(name: str, timeout: float | None) -> None:
    url = SqliteUrl(f"/tmp/{name}.db", timeout=timeout)
    assert parse_url(url.url) == url
    assert url.location == f"sqlite:/tmp/{name}.db"
    assert SqliteUrl.parse("sqlite:///:memory:").location == "sqlite::memory:"


def test_a_relative_sqlite_path_becomes_absolute(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert SqliteUrl("r.db").url == f"sqlite://{tmp_path / 'r.db'}"


def test_an_etcd_member_list_must_be_a_list() -> None:
    with pytest.raises(errors.InvalidInputError, match="endpoints"):
        EtcdUrl("127.0.0.1:2379")
