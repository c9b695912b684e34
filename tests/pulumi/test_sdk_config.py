"""The SDK's registry input objects: URLs of ``servregistry.urls``, and the names of release
0.1.0 kept one release as deprecated aliases."""

from __future__ import annotations

import pytest

import pulumi_servregistry as sr
from pulumi_servregistry import config
from servregistry.urls import EtcdUrl, parse_url


def test_args_build_the_url_the_backends_parse() -> None:
    args = sr.EtcdRegistryArgs(["h1:2379", "h2:2379"], prefix="/sr/", user="u", timeout=3)
    assert args.url == "etcd://h1:2379,h2:2379/?prefix=%2Fsr%2F&user=u&timeout=3"
    assert parse_url(args.url) == EtcdUrl(("h1:2379", "h2:2379"), "/sr/", user="u", timeout=3.0)
    assert sr.ServiceDirectoryRegistryArgs("p", "r").url == "servicedirectory://p/r"


@pytest.mark.parametrize("old", sorted(config.DEPRECATED))
def test_old_names_warn_and_give_the_new_class(old: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated.*{old}Args"):
        cls = getattr(sr, old)
    assert cls is getattr(sr, f"{old}Args")
    with pytest.warns(DeprecationWarning):
        assert getattr(config, old) is cls


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        sr.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
