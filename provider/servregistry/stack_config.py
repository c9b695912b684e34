"""The Pulumi stack config keys this package reads, and a check that a stack holds no others.

Every key lives in the ``servregistry`` namespace (``pulumi config set servregistry:KEY ...``):

* ``servregistry:registry`` — the registry URL a resource uses when it has no ``registry``
  input (``sqlite:///abs/path.db``, ``etcd://host:port/prefix``, ``cloudmap://region``,
  ``servicedirectory://project/region``; see ``open_registry``);
* ``servregistry:ownerKey`` / ``servregistry:ownerValue`` — the owner pair stamped on every
  object (default ``owner`` / ``cnwan-operator``);
* ``servregistry:etcdPassword`` — the etcd password (set it with ``--secret``).

A misspelt key is not an error to Pulumi: the program simply never reads it and falls back to
a default, which can send it to another registry or stamp another owner. :func:`check_keys`
turns that into an error naming the key (and the known key it most resembles); a program
calls :func:`check_program_config` first thing, as every example does. Only that function
imports pulumi (when called): the rest is usable without it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from servregistry import errors

__all__ = [
    "KEYS",
    "NAMESPACE",
    "STACK_METADATA_KEY",
    "check_keys",
    "check_program_config",
    "unknown_keys",
]

NAMESPACE = "servregistry"
#: the metadata key that records which stack created an object (``<project>_<stack>``)
STACK_METADATA_KEY = "pulumi-stack"
#: every stack config key the library reads, with what it holds
KEYS: dict[str, str] = {
    f"{NAMESPACE}:registry": "registry URL used by resources without a registry input",
    f"{NAMESPACE}:ownerKey": "owner metadata key (default owner)",
    f"{NAMESPACE}:ownerValue": "owner metadata value (default cnwan-operator)",
    f"{NAMESPACE}:etcdPassword": "etcd password (a secret)",
}


def unknown_keys(keys: Iterable[str], project: str | None = None) -> list[str]:
    """The keys in the ``servregistry`` namespace (or in ``project``'s own namespace, which a
    program that reads only ours never looks at) that nothing reads, sorted. Keys of other
    namespaces (``aws:region``, ``kubernetes:context``, ...) belong to other packages and are
    left alone."""
    watched = {NAMESPACE, *([project] if project else [])}
    return sorted(k for k in keys if k.partition(":")[0] in watched and k not in KEYS)


def check_keys(keys: Iterable[str], project: str | None = None) -> None:
    """Raise InvalidInputError naming the first unknown key (see :func:`unknown_keys`), the
    known key it most resembles, and every key that is read."""
    unknown = unknown_keys(keys, project)
    if not unknown:
        return
    key = unknown[0]
    bare = key.partition(":")[2]
    by_bare = {k.partition(":")[2].lower(): k for k in KEYS}
    close = difflib.get_close_matches(bare.lower(), by_bare, n=1, cutoff=0.6)
    hint = f"did you mean {by_bare[close[0]]}? " if close else ""
    others = f" (and {len(unknown) - 1} more: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
    raise errors.InvalidInputError(
        field=key,
        rule=f"unknown stack config key{others}; {hint}the keys read are "
        + ", ".join(KEYS)
        + f"; remove it with: pulumi config rm {key}",
    )


def check_program_config() -> None:
    """In a running Pulumi program: :func:`check_keys` on every key of the stack's config and
    the program's project name. Imports pulumi when called (the rest of this module does not)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    check_keys({*CONFIG.get(), *get_config_env()}, pulumi.get_project())
