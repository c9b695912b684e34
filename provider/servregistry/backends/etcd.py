"""etcd v3 backend (``python3-etcd3``, imported as ``etcd3``) in the CN-WAN key layout.

Every write is one transaction guarded as the seed's (parents exist; the object does not exist
for a create, exists for an update) and, when this registry has read the object, on the object's
own ``mod_revision``: a change made by someone else between our read and our write fails with
``ConflictError`` instead of being overwritten. Deleting ``prod`` removes the key and the range
``prod/…`` only, never ``prod-eu``. Endpoint sets are written in batched transactions of at most
``MAX_TXN_OPS`` operations (etcd's default ``--max-txn-ops`` is 128 for both compares and ops),
``PIPELINE_DEPTH`` of them in flight at once.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from servregistry import errors
from servregistry.backends import etcd_layout as layout
from servregistry.backends.base import (
    UNREACHABLE,
    BaseRegistry,
    CircuitBreaker,
    split_url,
    url_option,
)
from servregistry.backends.sqlite import check_name
from servregistry.model import Endpoint, Namespace, RegistryObject, Service
from servregistry.registry import EndpointChanges

try:
    import etcd3
    import grpc
    from etcd3 import etcdrpc
    from etcd3 import exceptions as etcd_exceptions
    from etcd3.client import EtcdTokenCallCredentials, Transactions
    from etcd3.utils import prefix_range_end
except ImportError as exc:  # pragma: no cover - exercised by open_registry's message
    raise errors.MissingDependencyError(
        "the etcd backend needs python3-etcd3: pip install 'pulumi-servregistry[etcd]'"
    ) from exc

__all__ = ["MAX_TXN_OPS", "EtcdRegistry"]

log = logging.getLogger(__name__)

#: etcd's default --max-txn-ops; a batch keeps compares and operations within it
MAX_TXN_OPS = 128
#: endpoint-set transactions in flight at once (batches touch distinct keys)
PIPELINE_DEPTH = 4
#: etcd refuses requests over 1.5 MiB; we refuse values over 1 MiB before writing
MAX_VALUE_BYTES = 1024 * 1024
PASSWORD_ENV = "SERVREGISTRY_ETCD_PASSWORD"
_REVISION_CACHE_SIZE = 200_000

#: builds compares and operations (stateless; the client's own instance is the same class)
_TX = Transactions()

_T = TypeVar("_T")
_Obj = TypeVar("_Obj", Namespace, Service, Endpoint)


@dataclass(slots=True)
class _Write:
    """One guarded write of ``key``: the parents that must exist, the key's own compare, then
    the operations. A batch of writes to one service guards the shared parents once. Plain
    data (no closures): an endpoint set makes thousands of these."""

    name: str
    key: str
    compare: Any
    ops: list[Any]
    #: (key, message if missing) of the namespace and service that must exist
    parents: list[tuple[str, str]]
    #: an update (the key must exist) or a create (it must not); deletes are updates
    update: bool
    #: the key's revision when this registry last saw it (the compare's guard), if known
    seen: int | None
    #: for a put, the object stored; for a delete, None
    obj: RegistryObject | None = None
    #: how errors name the object; by default derived from the object's kind and key
    label: str = ""


class EtcdRegistry(BaseRegistry):
    """A registry in etcd. ``EtcdRegistry(["127.0.0.1:2379"], prefix=None, user=None, ...)``.

    The client is built on first use (the object pickles as plain configuration, never with
    its password). ``timeout`` bounds every call; a deadline raises ``RegistryTimeoutError``.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        prefix: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        ca_cert: str | None = None,
        cert_key: str | None = None,
        cert_cert: str | None = None,
        tls: bool = False,
        timeout: float = 15.0,
    ) -> None:
        if not endpoints:
            raise errors.InvalidInputError(field="registry.endpoints", rule="no etcd endpoints")
        self.endpoints = [_host_port(e) for e in endpoints]
        self.prefix = layout.parse_prefix(prefix)
        self.user = user
        self.ca_cert, self.cert_key, self.cert_cert = ca_cert, cert_key, cert_cert
        self.tls = tls or ca_cert is not None
        self.timeout = float(timeout)
        self._init_runtime(password)

    def _init_runtime(self, password: str | None = None) -> None:
        """The password never pickles: after unpickling it comes from ``use_password``."""
        self._password = password
        self._client: Any = None
        self._lock = threading.Lock()
        self._revisions: OrderedDict[str, int] = OrderedDict()
        self._revisions_lock = threading.Lock()
        self._decoded: dict[str, tuple[int, RegistryObject]] = {}

    @classmethod
    def from_url(cls, url: str) -> EtcdRegistry:
        """``etcd[s]://host:port[,host:port]/prefix?timeout=15&user=NAME&ca_cert=PATH...``.

        A path of ``""`` or ``/`` keeps the default prefix ``/service-registry/``; pass
        ``?prefix=/`` for the root. The password is never part of the URL: it comes from
        ``$SERVREGISTRY_ETCD_PASSWORD`` (or the ``password`` argument).
        """
        parts, query = split_url(
            url, {"timeout", "user", "ca_cert", "cert_key", "cert_cert", "prefix"}
        )
        if "@" in parts.netloc:
            raise errors.InvalidInputError(
                field="registry",
                rule="credentials do not belong in the etcd URL; pass ?user=NAME and set the "
                f"password in ${PASSWORD_ENV} (or the stack secret servregistry:etcdPassword)",
            )
        path = parts.path.strip("/")
        prefix = query.get("prefix", path or None)
        return cls(
            [e for e in parts.netloc.split(",") if e],
            prefix,
            user=query.get("user"),
            ca_cert=query.get("ca_cert"),
            cert_key=query.get("cert_key"),
            cert_cert=query.get("cert_cert"),
            tls=parts.scheme == "etcds",
            timeout=url_option(query, "timeout", 15.0, float),
        )

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.endpoints)
        return f"EtcdRegistry({hosts!r}, prefix={self.prefix!r}, user={self.user!r})"

    def use_password(self, password: str | None) -> None:
        """Authenticate with ``password`` from now on (e.g. a decrypted stack secret); the
        password is never pickled. A connected client is dropped and rebuilt on next use."""
        if password == self._password:
            return
        self.close()
        self._password = password

    # client -----------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The etcd client, built on first use."""
        with self._lock:
            if self._client is None:
                with _mapped():
                    self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        creds = None
        if self.tls:
            creds = etcd3.MultiEndpointEtcd3Client.get_secure_creds(
                self.ca_cert, self.cert_key, self.cert_cert
            )
        eps = [
            etcd3.Endpoint(host, port, secure=self.tls, creds=creds, time_retry=5.0)
            for host, port in self.endpoints
        ]
        password = self._password or os.environ.get(PASSWORD_ENV)
        if self.user and not password:
            raise errors.InvalidInputError(
                field="registry.password",
                rule=f"user {self.user!r} needs a password: set ${PASSWORD_ENV} or the stack "
                "secret servregistry:etcdPassword",
            )
        client = etcd3.MultiEndpointEtcd3Client(
            endpoints=eps,
            timeout=self.timeout,
            user=self.user,
            password=password if self.user else None,
            failover=len(eps) > 1,
        )
        if not self.tls:
            # grpc refuses call credentials on a plaintext channel ("insufficient security
            # level"); the client also sends the auth token as call metadata, which suffices
            client.call_credentials = None
        if self.user and password:
            return _RenewingClient(client, self.user, password)
        return client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def native_id(self, obj: RegistryObject) -> str:
        """The etcd key ``obj`` is stored under."""
        return layout.key_of(self.prefix, obj)

    def validate(self, obj: RegistryObject) -> None:
        check_name(obj)
        # an escaped character takes at most 10 bytes of YAML, a field a few more: encode for
        # real only when this cheap bound says the value could come near the limit
        chars = (
            len(obj.name) + len(getattr(obj, "ns_name", "")) + len(getattr(obj, "serv_name", ""))
        )
        chars += sum(len(k) + len(v) for k, v in obj.metadata.items())
        rough = 256 + 10 * chars + 16 * len(obj.metadata)
        if rough > MAX_VALUE_BYTES and len(layout.encode(obj)) > MAX_VALUE_BYTES:
            kind = type(obj).__name__.lower()
            raise errors.InvalidInputError(
                field=f"{kind}.metadata",
                rule=f"the stored value would exceed {MAX_VALUE_BYTES} bytes",
            )

    # revisions --------------------------------------------------------------------------------

    def _seen(self, key: str, revision: int | None) -> None:
        with self._revisions_lock:
            if revision is None:
                self._revisions.pop(key, None)
                return
            self._revisions[key] = revision
            self._revisions.move_to_end(key)
            while len(self._revisions) > _REVISION_CACHE_SIZE:
                self._revisions.popitem(last=False)

    def _revision(self, key: str) -> int | None:
        with self._revisions_lock:
            return self._revisions.get(key)

    def _forget_range(self, key: str) -> None:
        with self._revisions_lock:
            for k in [k for k in self._revisions if k == key or k.startswith(key + "/")]:
                del self._revisions[k]
            for k in [k for k in self._decoded if k == key or k.startswith(key + "/")]:
                self._decoded.pop(k, None)

    # reads ------------------------------------------------------------------------------------

    def _get(self, kind: type[_Obj], key: str, label: str) -> _Obj:
        with _mapped():
            value, meta = self.client.get(key)
        if value is None:
            self._seen(key, None)
            raise errors.NotFoundError(f"{label} not found")
        self._seen(key, meta.mod_revision)
        obj = self._decode(kind, key, meta.mod_revision, value)
        assert isinstance(obj, kind)
        return obj

    def _decode(self, kind: type[RegistryObject], key: str, revision: int, raw: bytes) -> Any:
        """Decode a value, reusing the object decoded last time if the key's revision is the
        same (objects are immutable, and a revision names one version of one key)."""
        cached = self._decoded.get(key)
        if cached is not None and cached[0] == revision and type(cached[1]) is kind:
            return cached[1]
        obj = layout.decode(kind, raw)
        if len(self._decoded) >= _REVISION_CACHE_SIZE:
            self._decoded.clear()
        self._decoded[key] = (revision, obj)
        return obj

    def _list(self, kind: type[_Obj], base: str) -> list[_Obj]:
        with _mapped():
            found = list(self.client.get_prefix(base, sort_order="ascend", sort_target="key"))
        result: list[_Obj] = []
        for value, meta in found:
            key = meta.key.decode()
            if layout.child_name(key, base) is None:
                continue
            try:
                obj = self._decode(kind, key, meta.mod_revision, value)
            except errors.BackendError as exc:
                log.warning("skipping undecodable value at %s: %s", key, exc)
                continue
            assert isinstance(obj, kind)
            self._seen(key, meta.mod_revision)
            result.append(obj)
        return result

    def get_ns(self, name: str) -> Namespace:
        _need(name, errors.NamespaceNameNotProvidedError)
        return self._get(Namespace, layout.ns_key(self.prefix, name), f"namespace {name!r}")

    def list_ns(self) -> list[Namespace]:
        return self._list(Namespace, f"{self.prefix}namespaces/")

    def get_serv(self, ns_name: str, serv_name: str) -> Service:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        key = layout.serv_key(self.prefix, ns_name, serv_name)
        return self._get(Service, key, f"service {ns_name}/{serv_name}")

    def list_serv(self, ns_name: str) -> list[Service]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        return self._list(Service, layout.ns_key(self.prefix, ns_name) + "/services/")

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        key = layout.endp_key(self.prefix, ns_name, serv_name, endp_name)
        return self._get(Endpoint, key, f"endpoint {ns_name}/{serv_name}/{endp_name}")

    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        base = layout.serv_key(self.prefix, ns_name, serv_name) + "/endpoints/"
        return self._list(Endpoint, base)

    # guarded writes ---------------------------------------------------------------------------

    def _parents(self, obj: RegistryObject) -> list[tuple[str, str]]:
        """(key, message) for each parent that must exist."""
        if isinstance(obj, Namespace):
            return []
        parents = [
            (
                layout.ns_key(self.prefix, obj.ns_name),
                f"namespace with name {obj.ns_name} does not exist",
            )
        ]
        if isinstance(obj, Endpoint):
            parents.append(
                (
                    layout.serv_key(self.prefix, obj.ns_name, obj.serv_name),
                    f"service with name {obj.serv_name} does not exist",
                )
            )
        return parents

    def _put_write(
        self,
        obj: RegistryObject,
        *,
        update: bool,
        parents: list[tuple[str, str]] | None = None,
    ) -> _Write:
        """A guarded put of ``obj``; ``parents`` (from :meth:`_parents`) when already known."""
        key = layout.key_of(self.prefix, obj)
        parents = self._parents(obj) if parents is None else parents
        seen = self._revision(key) if update else None
        if update and seen is not None:
            compare = _TX.mod(key) == seen
        elif update:
            compare = _TX.create(key) > 0
        else:
            compare = _TX.create(key) == 0
        ops = [_TX.put(key, layout.encode(obj))]
        return _Write(obj.name, key, compare, ops, parents, update, seen, obj)

    def _delete_write(self, key: str, label: str, *, cascade: bool) -> _Write:
        seen = self._revision(key)
        compare = _TX.mod(key) == seen if seen is not None else _TX.create(key) > 0
        ops = [_TX.delete(key)]
        if cascade:
            child = key + "/"
            ops.append(etcd3.transactions.Delete(child, range_end=prefix_range_end(child.encode())))
        name = key.rsplit("/", 1)[-1]
        return _Write(name, key, compare, ops, [], True, seen, label=label)

    def _explain(self, write: _Write) -> errors.ServiceRegistryError:
        """Why a guarded write did not apply (one extra read, only on failure)."""
        key, seen = write.key, write.seen
        label = write.label or (
            f"{type(write.obj).__name__.lower()} {key.removeprefix(self.prefix)}"
        )
        with _mapped():
            for parent, message in write.parents:
                if self.client.get(parent)[0] is None:
                    return errors.ParentNotFoundError(message)
            value, meta = self.client.get(key)
        if not write.update:
            return errors.AlreadyExistsError(f"{label} already exists")
        if value is None:
            self._seen(key, None)
            return errors.NotFoundError(f"{label} not found")
        self._seen(key, None)
        return errors.ConflictError(
            f"{label} changed in etcd since it was read (revision {seen} → "
            f"{meta.mod_revision}); nothing was written, retry"
        )

    def _commit(self, write: _Write) -> None:
        with _mapped():
            ok, responses = self.client.transaction(
                compare=[*_guards(write.parents), write.compare], success=write.ops, failure=[]
            )
        if not ok:
            raise self._explain(write)
        self._remember([write], responses)

    def _remember(self, writes: list[_Write], responses: list[Any]) -> None:
        """After a committed transaction, record each key's new revision (and the object now
        stored), so the next guard is exact and the next read needs no decoding."""
        revision = _txn_revision(responses)
        for write in writes:
            if write.obj is None or revision is None:
                self._seen(write.key, None)
                self._decoded.pop(write.key, None)
            else:
                self._seen(write.key, revision)
                self._decoded[write.key] = (revision, write.obj)

    def _write(self, obj: _Obj, *, update: bool) -> _Obj:
        self._commit(self._put_write(obj, update=update))
        return obj

    def _delete(self, key: str, label: str, *, cascade: bool) -> None:
        self._commit(self._delete_write(key, label, cascade=cascade))
        self._forget_range(key)

    def create_ns(self, ns: Namespace) -> Namespace:
        return self._write(ns, update=False)

    def update_ns(self, ns: Namespace) -> Namespace:
        return self._write(ns, update=True)

    def delete_ns(self, name: str) -> None:
        _need(name, errors.NamespaceNameNotProvidedError)
        self._delete(layout.ns_key(self.prefix, name), f"namespace {name!r}", cascade=True)

    def create_serv(self, serv: Service) -> Service:
        return self._write(serv, update=False)

    def update_serv(self, serv: Service) -> Service:
        return self._write(serv, update=True)

    def delete_serv(self, ns_name: str, serv_name: str) -> None:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        key = layout.serv_key(self.prefix, ns_name, serv_name)
        self._delete(key, f"service {ns_name}/{serv_name}", cascade=True)

    def create_endp(self, endp: Endpoint) -> Endpoint:
        return self._write(endp, update=False)

    def update_endp(self, endp: Endpoint) -> Endpoint:
        return self._write(endp, update=True)

    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        key = layout.endp_key(self.prefix, ns_name, serv_name, endp_name)
        self._delete(key, f"endpoint {ns_name}/{serv_name}/{endp_name}", cascade=False)

    # endpoint sets ----------------------------------------------------------------------------

    def apply_endpoint_changes(
        self, changes: EndpointChanges
    ) -> dict[str, errors.ServiceRegistryError]:
        """Write an endpoint set in transactions of at most ``MAX_TXN_OPS`` compares and ops,
        up to ``PIPELINE_DEPTH`` of them in flight while the next batch is built.

        Each transaction is guarded on the namespace and service existing and on every endpoint
        being as the Broker read it; batches touch distinct keys, so their order does not
        matter. When a batch's guard fails, its endpoints are retried one transaction each, so
        the failures land per endpoint and the rest still applies. Every batch has finished
        when this returns or raises.
        """
        probe = Endpoint("probe", changes.ns_name, changes.serv_name, "127.0.0.1", 0)
        parents = self._parents(probe)
        guard = _guards(parents)

        def writes() -> Iterator[_Write]:
            for name in changes.delete:
                key = layout.endp_key(self.prefix, changes.ns_name, changes.serv_name, name)
                label = f"endpoint {changes.ns_name}/{changes.serv_name}/{name}"
                yield self._delete_write(key, label, cascade=False)
            for endp in changes.update:
                yield self._put_write(endp, update=True, parents=parents)
            for endp in changes.create:
                yield self._put_write(endp, update=False, parents=parents)

        failures: dict[str, errors.ServiceRegistryError] = {}
        batches = _batched(writes(), MAX_TXN_OPS - len(guard))
        breaker = CircuitBreaker()  # once etcd is out of reach, no further batch is sent
        pool = ThreadPoolExecutor(max_workers=PIPELINE_DEPTH)
        try:
            in_flight = [
                pool.submit(breaker.call, partial(self._commit_batch, guard, b)) for b in batches
            ]
            for future in in_flight:
                failures.update(future.result())
        except errors.ServiceRegistryError:
            if breaker.tripped is not None:
                raise breaker.tripped from breaker.tripped.__cause__
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return failures

    def _commit_batch(
        self, guard: list[Any], batch: list[_Write]
    ) -> dict[str, errors.ServiceRegistryError]:
        compares = guard + [w.compare for w in batch]
        ops = [op for w in batch for op in w.ops]
        with _mapped():
            ok, responses = self.client.transaction(compare=compares, success=ops, failure=[])
        if ok:
            self._remember(batch, responses)
            return {}
        failures: dict[str, errors.ServiceRegistryError] = {}
        for write in batch:
            try:
                self._commit(write)
            except UNREACHABLE:
                raise  # etcd itself, not this endpoint: trips the breaker
            except errors.ServiceRegistryError as exc:
                failures[write.name] = exc
        return failures


def _batched(items: Iterator[_T], size: int) -> Iterator[list[_T]]:
    """Lists of ``size`` items (the last one shorter), built as they are consumed."""
    while batch := list(itertools.islice(items, size)):
        yield batch


def _guards(parents: list[tuple[str, str]]) -> list[Any]:
    """Compares that hold while every parent key exists."""
    return [_TX.create(parent) > 0 for parent, _ in parents]


def _txn_revision(responses: list[Any]) -> int | None:
    """The revision a committed transaction created (every put/delete response carries it)."""
    for response in responses:
        kind = response.WhichOneof("response")
        if kind in ("response_put", "response_delete_range"):
            return int(getattr(response, kind).header.revision)
    return None


def _need(value: str, error: type[errors.InvalidInputError]) -> None:
    if not value:
        raise error()


def _host_port(endpoint: str) -> tuple[str, int]:
    """``host:port``, ``host`` (port 2379), ``[v6]:port``; an ``http(s)://`` scheme is dropped."""
    text = endpoint.strip().removeprefix("http://").removeprefix("https://")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "2379"
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, "2379"
    if not host:
        raise errors.InvalidInputError(field="registry.endpoints", rule=f"{endpoint!r} has no host")
    try:
        return host, int(port)
    except ValueError:
        raise errors.InvalidInputError(
            field="registry.endpoints", rule=f"{endpoint!r}: port {port!r} is not a number"
        ) from None


class _RenewingClient:
    """The etcd client, authenticating again when etcd says its token is no longer valid.

    python3-etcd3 gets a token once, when it connects, and etcd's ``simple`` tokens expire after
    ``--auth-token-ttl`` seconds (default 300) without use, so a long-lived process would fail
    for good. Each call that fails with UNAUTHENTICATED gets a new token and is retried once.
    """

    def __init__(self, client: Any, user: str, password: str) -> None:
        self._client, self._user, self._password = client, user, password
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        return self._renewing(lambda: self._client.get(key))

    def get_prefix(self, prefix: str, **kwargs: Any) -> list[Any]:
        return self._renewing(lambda: list(self._client.get_prefix(prefix, **kwargs)))

    def transaction(self, **kwargs: Any) -> Any:
        return self._renewing(lambda: self._client.transaction(**kwargs))

    def close(self) -> None:
        self._client.close()

    def _renewing(self, call: Callable[[], _T]) -> _T:
        stale = self._client.metadata
        try:
            return call()
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
        self._renew(stale)
        return call()

    def _renew(self, stale: Any) -> None:
        with self._lock:
            if self._client.metadata != stale:
                return  # another thread renewed it meanwhile
            request = etcdrpc.AuthenticateRequest(name=self._user, password=self._password)
            token = self._client.authstub.Authenticate(request, self._client.timeout).token
            log.info("etcd: the auth token expired; authenticated again")
            self._client.metadata = (("token", token),)
            if self._client.call_credentials is not None:
                self._client.call_credentials = grpc.metadata_call_credentials(
                    EtcdTokenCallCredentials(token)
                )


@contextmanager
def _mapped() -> Iterator[None]:
    """Map etcd3/gRPC errors onto servregistry.errors."""
    try:
        yield
    except errors.ServiceRegistryError:
        raise
    except etcd_exceptions.ConnectionTimeoutError as exc:
        raise errors.RegistryTimeoutError("etcd did not answer in time") from exc
    except (etcd_exceptions.ConnectionFailedError, etcd_exceptions.NoServerAvailableError) as exc:
        raise errors.RegistryUnavailableError(f"cannot reach etcd: {exc}") from exc
    except etcd_exceptions.Etcd3Exception as exc:
        raise errors.BackendError(f"etcd: {type(exc).__name__}: {exc}") from exc
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise errors.RegistryTimeoutError("etcd did not answer in time") from exc
        details = exc.details() if hasattr(exc, "details") else str(exc)
        raise errors.BackendError(f"etcd: {code}: {details}") from exc
