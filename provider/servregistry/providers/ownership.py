"""Which resource of a stack an object belongs to: the holder mark and the declaration table.

Plain functions on plain values (no pulumi import), shared by every front end of the resource
logic. The rules they implement are in ``docs/ownership.md``:

* every object a resource writes carries, beside the owner and stack pairs, a *holder* pair
  ``pulumi-resource: <resource name>-<instance>``; ``<instance>`` is random, drawn when the
  resource is created and kept in its state, so a replacement (a new instance) takes the
  objects over on its create and the old instance's delete then finds nothing of its own;
* within one deployment, two resources of a stack may not declare the same namespace, service
  or endpoint: :class:`Declarations` refuses the second one at ``check``, naming both.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading

#: the metadata key of the holder pair
HOLDER_KEY = "pulumi-resource"
#: length of the random instance part (hex digits)
INSTANCE_LENGTH = 12
#: the longest label any backend accepts as a metadata value (Service Directory's labels)
LABEL_MAX = 63
#: the resource-name part of a holder value: what is left of a label after "-<instance>"
_NAME_MAX = LABEL_MAX - INSTANCE_LENGTH - 1


def label(text: str, limit: int = LABEL_MAX) -> str:
    """``text`` as a value every backend can hold, Service Directory's labels included:
    lowercase letters, digits, ``_`` and ``-``, at most ``limit`` characters. Other characters
    become ``-``; a longer value is cut and ends with a hash of the original."""
    value = re.sub(r"[^a-z0-9_-]", "-", text.lower())
    if len(value) > limit:
        value = f"{value[: limit - 11]}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    return value


def new_instance() -> str:
    """A fresh random instance id (drawn once per resource instance, at create)."""
    return secrets.token_hex(INSTANCE_LENGTH // 2)


def holder_value(resource_name: str | None, instance: str) -> str:
    """The holder pair's value: the resource's name (label-safe) and its instance id."""
    return f"{label(resource_name or 'resource', _NAME_MAX)}-{instance}"


def holder_name(value: str) -> str:
    """The resource name part of a holder value, for messages."""
    return value[: -INSTANCE_LENGTH - 1] if len(value) > INSTANCE_LENGTH else value


class Declarations:
    """What each resource of a deployment declared, filled by ``check``.

    One provider process serves one deployment, and ``check`` sees every resource the program
    declares in it; a second resource declaring an object already declared by another is
    refused by :meth:`claim`. Thread-safe (``check`` runs on a thread pool).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_object: dict[tuple[str, ...], tuple[str, str]] = {}

    def claim(self, key: tuple[str, ...], kind: str, resource: str) -> str | None:
        """Record that ``resource`` (a ``kind`` resource) declares the object ``key``; return
        ``None``, or the ``'<Kind> <name>'`` of the other resource that declared it first."""
        with self._lock:
            earlier = self._by_object.setdefault(key, (kind, resource))
        if earlier == (kind, resource):
            return None
        return f"{earlier[0]} {earlier[1]!r}"

    def clear(self) -> None:
        with self._lock:
            self._by_object.clear()


#: the declarations of this process's deployment
declarations = Declarations()
