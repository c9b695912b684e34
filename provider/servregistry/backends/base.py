"""The backend kit, what every backend shares: the name rule, pickling as plain configuration,
context management, the default ``validate`` and ``native_id``, the circuit breaker and a bounded
pool for endpoint sets, and the guards that keep a write within what was listed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from servregistry import errors
from servregistry.model import Endpoint, RegistryObject, Service

if TYPE_CHECKING:  # registry.py imports this module
    from servregistry.registry import EndpointChanges

_T = TypeVar("_T")
log = logging.getLogger("servregistry")
#: seconds between progress lines of a long run of concurrent writes
PROGRESS_EVERY = 5.0


def check_name(obj: RegistryObject) -> None:
    """Names must not hold ``/``: the etcd and Service Directory layouts split on it."""
    for name in ("name", "ns_name", "serv_name"):
        value = getattr(obj, name, "")
        if "/" in value:
            kind = type(obj).__name__.lower()
            raise errors.InvalidInputError(
                field=f"{kind}.{name}", rule=f"{value!r} must not contain '/'"
            )


class BaseRegistry:
    """Mixin for backends: ``with open_registry(url) as reg: ...`` closes the client.

    Attributes whose names start with ``_`` are runtime state (clients, locks, caches, secrets):
    they never pickle, and ``_init_runtime`` recreates them after unpickling, so a registry
    travels (in a Pulumi provider) as plain configuration.
    """

    def _init_runtime(self) -> None:
        """Create the runtime state; called by ``__init__`` and after unpickling."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def validate(self, obj: RegistryObject) -> None:
        """The model already checked names, addresses and ports; backends add their own rules."""

    def native_id(self, obj: RegistryObject) -> str:
        """The backend's own identifier of ``obj`` (an etcd key, a Cloud Map id, a Service
        Directory resource name); by default the ``ns/serv/endp`` path."""
        if isinstance(obj, Endpoint):
            return f"{obj.ns_name}/{obj.serv_name}/{obj.name}"
        if isinstance(obj, Service):
            return f"{obj.ns_name}/{obj.name}"
        return obj.name

    def close(self) -> None:
        """Release the client; the registry must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: failures that say the registry itself is out of reach, not one object
UNREACHABLE = (errors.RegistryTimeoutError, errors.RegistryUnavailableError)


class CircuitBreaker:
    """Trips on the first failure that says the registry is out of reach; after that, calls
    through it fail at once with the same kind of error, "not attempted", instead of each
    waiting out its own timeout. Shared by the tasks of one batch of writes."""

    def __init__(self) -> None:
        self.tripped: errors.ServiceRegistryError | None = None

    def call(self, task: Callable[[], _T]) -> _T:
        if self.tripped is not None:
            raise type(self.tripped)(f"not attempted: {self.tripped}")
        try:
            return task()
        except UNREACHABLE as exc:
            if self.tripped is None:
                self.tripped = exc
            raise


def run_concurrently(
    concurrency: int, tasks: Mapping[str, Callable[[], object]], label: str = "writes"
) -> dict[str, errors.ServiceRegistryError]:
    """Run named tasks, at most ``concurrency`` at a time, through one CircuitBreaker; return
    the failures by name (an unexpected exception becomes a BackendError naming its type).

    A run that lasts logs ``label: K of N done`` on the ``servregistry`` logger every
    ``PROGRESS_EVERY`` seconds.
    """
    failures: dict[str, errors.ServiceRegistryError] = {}
    if not tasks:
        return failures
    started = last = time.monotonic()
    breaker = CircuitBreaker()
    with ThreadPoolExecutor(max_workers=min(concurrency, len(tasks))) as pool:
        futures = {pool.submit(breaker.call, task): name for name, task in tasks.items()}
        for done, future in enumerate(as_completed(futures), start=1):
            exc = future.exception()
            if isinstance(exc, errors.ServiceRegistryError):
                failures[futures[future]] = exc
            elif exc is not None:
                failures[futures[future]] = errors.BackendError(f"{type(exc).__name__}: {exc}")
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY and done < len(tasks):
                last = now
                log.info(
                    "%s: %d of %d done, %d failed (%.0f s)",
                    label,
                    done,
                    len(tasks),
                    len(failures),
                    now - started,
                )
    return failures


def refuse_children(
    label: str, children: Collection[str], kind: str, error: type[errors.NotEmptyError]
) -> None:
    """Raise ``error`` naming ``children`` (of ``kind``, e.g. "instances"), if there are any:
    a backend whose registry would delete a parent's children with it (or refuses a non-empty
    parent) deletes only an empty parent, so it never takes a child it was not asked to."""
    if children:
        names = sorted(children)
        shown = ", ".join(names[:10]) + (f", … ({len(names)} in all)" if len(names) > 10 else "")
        raise error(f"{label} still holds {kind} ({shown}); not deleted")


def writes_not_in_listing(
    changes: EndpointChanges, current: Mapping[str, Endpoint]
) -> dict[str, errors.ServiceRegistryError]:
    """The writes of ``changes`` that the listing ``current`` they were computed from does not
    allow, by name, each with its error: a delete or update of an endpoint that was not listed
    (ConflictError) or could not be read (EndpointNotOwnedError, as for any foreign one), a
    create of one that was (AlreadyExistsError). A backend sends none of them, so it never
    removes or overwrites what the Broker did not list and find to be ours."""
    where = f"{changes.ns_name}/{changes.serv_name}"
    refused: dict[str, errors.ServiceRegistryError] = {}
    for name in (*changes.delete, *(e.name for e in changes.update)):
        listed = current.get(name)
        if listed is None:
            refused[name] = errors.ConflictError(
                f"endpoint {name!r} of {where} is not in the listing this change was computed "
                "from; not written"
            )
        elif listed.unreadable:
            refused[name] = errors.EndpointNotOwnedError(
                f"endpoint {name!r} of {where} cannot be read ({listed.unreadable}); left alone"
            )
    for endp in changes.create:
        if endp.name in current:
            refused[endp.name] = errors.AlreadyExistsError(
                f"endpoint {endp.name!r} of {where} already exists (a create could overwrite it); "
                "not written"
            )
    return refused
