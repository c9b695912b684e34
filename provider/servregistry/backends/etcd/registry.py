"""etcd v3 backend in the CN-WAN key layout; ``etcd_client`` talks to the cluster.

Reads: a value that does not fit the model (not YAML, nested metadata, wrong types, an unknown
field, a key outside the layout) is represented by a placeholder (``unreadable``), foreign by
construction, so it is reported and never changed; a hostname or empty address is read as
stored. A parent is deleted only with the keys under it that this registry read and decoded,
guarded on the revision of that read (:meth:`EtcdRegistry._delete_tree`).

Every write is one transaction guarded as the seed's (parents exist; the object does not exist
for a create, exists for an update) and, when this registry has read the object, on the object's
own ``mod_revision``: a change made by someone else between our read and our write fails with
``ConflictError`` instead of being overwritten. Deleting ``prod`` removes the key and the range
``prod/…`` only, never ``prod-eu``. Endpoint sets are written in batched transactions of at most
``MAX_TXN_OPS`` operations (etcd's default ``--max-txn-ops`` is 128 for both compares and ops),
``PIPELINE_DEPTH`` of them in flight at once.

What a read returned is kept per key as ``(mod_revision, object)`` (:class:`_Cache`): the next
write's guard, and the object the next read at that revision returns without decoding. Every
single-object call touches its own entry only; removing a service or namespace visits the keys
under it only, whatever else the cache holds.
"""

from __future__ import annotations

import itertools
import logging
import os
import ssl
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from servregistry import errors
from servregistry.backends.base import (
    UNREACHABLE,
    BaseRegistry,
    CircuitBreaker,
    check_name,
    writes_not_in_listing,
)
from servregistry.backends.etcd import layout
from servregistry.backends.etcd.client import (
    EtcdClient,
    absent,
    delete_op,
    exists,
    mod_is,
    prefix_range_end,
    put_op,
)
from servregistry.model import Endpoint, Namespace, RegistryObject, Service
from servregistry.registry import EndpointChanges, Wanted
from servregistry.urls import EtcdUrl, parse_prefix

try:
    import etcd3
    import grpc
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
#: object keys whose revision and decoded object a registry keeps (about 0.3 KiB each)
_CACHE_SIZE = 400_000

_T = TypeVar("_T")
_Obj = TypeVar("_Obj", Namespace, Service, Endpoint)


@dataclass(slots=True)
class _Write:
    """One guarded write of ``key``: the parents that must exist, the key's own compare, then
    the operation (etcd messages, built once). A batch of writes to one service guards the
    shared parents once. Plain data (no closures): an endpoint set makes thousands of these."""

    name: str
    key: str
    compare: Any
    op: Any
    #: (key, message if missing) of the namespace and service that must exist
    parents: list[tuple[str, str]]
    #: an update (the key must exist) or a create (it must not); deletes are updates
    update: bool
    #: the key's revision when this registry last saw it (the compare's guard), if known
    seen: int | None
    #: for a put, the object stored; for a delete, None
    obj: RegistryObject | None = None
    #: for a put, the bytes written
    value: bytes | None = None
    #: how errors name the object; by default derived from the object's kind and key
    label: str = ""


class _Cache:
    """What this registry last read or wrote of each object key: ``(mod_revision, object)``.

    A revision names one version of one key and objects are immutable, so an entry is both the
    guard of the next write (the key must still be at that revision) and the decoded object a
    read at that revision returns without decoding. Entries are grouped by parent key
    (``…/services/web/endpoints`` → ``{name: entry}``): every call on one object touches one
    entry, and forgetting a subtree visits only the subtree, never the whole cache. Past
    ``limit`` entries, the groups seen first are dropped whole (their next writes are guarded
    on existence only until they are read again).
    """

    __slots__ = ("_groups", "_lock", "_size", "limit")

    def __init__(self, limit: int) -> None:
        self._groups: dict[str, dict[str, tuple[int, RegistryObject]]] = {}
        self._lock = threading.Lock()
        self._size = 0
        self.limit = limit

    def __len__(self) -> int:
        return self._size

    def get(self, key: str) -> tuple[int, RegistryObject] | None:
        parent, _, name = key.rpartition("/")
        return self.group(parent).get(name)

    def group(self, parent: str) -> Mapping[str, tuple[int, RegistryObject]]:
        """The entries of the keys directly under ``parent``, by name (to read, not change)."""
        return self._groups.get(parent) or {}

    def revision(self, key: str) -> int | None:
        entry = self.get(key)
        return None if entry is None else entry[0]

    def put(self, key: str, revision: int, obj: RegistryObject) -> None:
        parent, _, name = key.rpartition("/")
        self.put_many(parent, {obj.name if obj.name == name else name: (revision, obj)})

    def put_many(self, parent: str, entries: Mapping[str, tuple[int, RegistryObject]]) -> None:
        """Keep ``entries`` (name → entry) of the keys directly under ``parent``."""
        if not entries:
            return
        with self._lock:
            group = self._groups.get(parent)
            if group is None:
                group = self._groups[parent] = {}
            size = len(group)
            group.update(entries)
            self._size += len(group) - size
            while self._size > self.limit and len(self._groups) > 1:
                oldest = next(iter(self._groups))
                if oldest == parent:  # never the group being written: move it to the back
                    self._groups[parent] = self._groups.pop(parent)
                    continue
                self._size -= len(self._groups.pop(oldest))

    def drop(self, key: str) -> None:
        parent, _, name = key.rpartition("/")
        with self._lock:
            group = self._groups.get(parent)
            if group is not None and group.pop(name, None) is not None:
                self._size -= 1

    def drop_tree(self, key: str, under: Iterable[str]) -> None:
        """Forget ``key`` and the keys under it: the groups of its children (services of a
        namespace, endpoints of a service) and of every key in ``under`` (the keys a read found
        under ``key``)."""
        self.drop(key)
        with self._lock:
            for child in itertools.chain((key,), under):
                for sub in ("/services", "/endpoints"):
                    group = self._groups.pop(child + sub, None)
                    if group is not None:
                        self._size -= len(group)


class EtcdRegistry(BaseRegistry):
    """A registry in etcd. ``EtcdRegistry(["127.0.0.1:2379"], prefix=None, user=None, ...)``.

    The client is built on first use (the object pickles as plain configuration, never with
    its password). ``timeout`` bounds every call, however many members it tries: a member that
    cannot be reached is skipped at once, and a call that no member serves in time raises
    ``RegistryTimeoutError`` (``RegistryUnavailableError`` when every member refuses
    connections). With ``tls`` (``etcds://``), ``ca_cert`` verifies the server (the system's
    CA bundle without it); ``cert_cert`` and ``cert_key`` go together.
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
        self.prefix = parse_prefix(prefix)
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
        self._cache = _Cache(_CACHE_SIZE)

    @classmethod
    def from_url(cls, url: str) -> EtcdRegistry:
        """``etcd[s]://host:port[,host:port]/prefix?timeout=15&user=NAME&ca_cert=PATH...``.

        A path of ``""`` or ``/`` keeps the default prefix ``/service-registry/``; pass
        ``?prefix=/`` for the root. The password is never part of the URL: it comes from
        ``$SERVREGISTRY_ETCD_PASSWORD`` (or the ``password`` argument).
        """
        parsed = EtcdUrl.parse(url)
        return cls(
            parsed.endpoints,
            parsed.prefix,
            user=parsed.user,
            ca_cert=parsed.ca_cert,
            cert_key=parsed.cert_key,
            cert_cert=parsed.cert_cert,
            tls=parsed.tls,
            timeout=15.0 if parsed.timeout is None else parsed.timeout,
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
    def client(self) -> EtcdClient:
        """The etcd client, built on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> EtcdClient:
        password = self._password or os.environ.get(PASSWORD_ENV)
        if self.user and not password:
            raise errors.InvalidInputError(
                field="registry.password",
                rule=f"user {self.user!r} needs a password: set ${PASSWORD_ENV} or the stack "
                "secret servregistry:etcdPassword",
            )
        return EtcdClient(
            self.endpoints,
            timeout=self.timeout,
            credentials=self._credentials() if self.tls else None,
            user=self.user or None,
            password=password if self.user else None,
        )

    def _credentials(self) -> grpc.ChannelCredentials:
        """TLS credentials from the ``ca_cert``/``cert_key``/``cert_cert`` files; without
        ``ca_cert`` the system's CA bundle verifies the server."""
        if (self.cert_key is None) != (self.cert_cert is None):
            missing = "cert_key" if self.cert_key is None else "cert_cert"
            raise errors.InvalidInputError(
                field=f"registry.{missing}",
                rule="a client certificate needs both cert_cert and cert_key",
            )
        ca_path = self.ca_cert or _system_ca_bundle()
        files: dict[str, bytes | None] = {}
        for name, path in (
            ("ca_cert", ca_path),
            ("cert_key", self.cert_key),
            ("cert_cert", self.cert_cert),
        ):
            try:
                files[name] = None if path is None else Path(path).read_bytes()
            except OSError as exc:
                what = name if name != "ca_cert" or self.ca_cert else "the system CA bundle"
                raise errors.InvalidInputError(
                    field=f"registry.{name}",
                    rule=f"cannot read {what} file {path}: {exc.strerror or exc}",
                ) from None
        return grpc.ssl_channel_credentials(files["ca_cert"], files["cert_key"], files["cert_cert"])

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
        chars += sum(map(len, obj.metadata)) + sum(map(len, obj.metadata.values()))
        rough = 256 + 10 * chars + 16 * len(obj.metadata)
        if rough > MAX_VALUE_BYTES and len(layout.encode(obj)) > MAX_VALUE_BYTES:
            kind = type(obj).__name__.lower()
            raise errors.InvalidInputError(
                field=f"{kind}.metadata",
                rule=f"the stored value would exceed {MAX_VALUE_BYTES} bytes",
            )

    # revisions --------------------------------------------------------------------------------

    def _seen(self, key: str, revision: int | None, obj: RegistryObject | None = None) -> None:
        """Remember ``key`` at ``revision`` holding ``obj``, or forget it (``None``)."""
        if revision is None or obj is None:
            self._cache.drop(key)
        else:
            self._cache.put(key, revision, obj)

    def _revision(self, key: str) -> int | None:
        return self._cache.revision(key)

    def _known(self, key: str, revision: int) -> bool:
        """Whether this registry read (or wrote) ``key`` at ``revision`` and decoded it as an
        object of the model: only such keys are ever removed with their parent."""
        return self._cache.revision(key) == revision

    # reads ------------------------------------------------------------------------------------

    def _get(self, kind: type[_Obj], key: str, names: dict[str, str], label: str) -> _Obj:
        value, meta = self.client.get(key)
        if value is None or meta is None:
            self._seen(key, None)
            raise errors.NotFoundError(f"{label} not found")
        parent, _, name = key.rpartition("/")
        fresh: dict[str, tuple[int, RegistryObject]] = {}
        known = self._cache.group(parent)
        obj = self._decode(kind, key, name, meta.mod_revision, value, names, known, fresh)
        self._cache.put_many(parent, fresh)
        assert isinstance(obj, kind)
        return obj

    def _decode(
        self,
        kind: type[RegistryObject],
        key: str,
        name: str,
        revision: int,
        raw: bytes,
        names: dict[str, str],
        known: Mapping[str, tuple[int, RegistryObject]],
        fresh: dict[str, tuple[int, RegistryObject]],
    ) -> Any:
        """Decode the value of ``key`` (named ``name`` in its parent), reusing the object in
        ``known`` (the cache's entries of the parent) if it is at the same revision (objects are
        immutable, and a revision names one version of one key); an object decoded anew goes
        into ``fresh``, for the caller to keep in the cache. A value that does not fit the
        model becomes a placeholder that is neither cached nor remembered, so no guarded write
        or removal ever counts on it. ``names`` are the names the key carries besides
        ``name``."""
        cached = known.get(name)
        if cached is not None and cached[0] == revision and type(cached[1]) is kind:
            return cached[1]
        obj = layout.decode(kind, raw, names, name=name)
        if obj.unreadable:
            log.warning(
                "etcd: %s does not fit the model (%s); it is left alone", key, obj.unreadable
            )
            self._cache.drop(key)
            return obj
        fresh[obj.name if obj.name == name else name] = (revision, obj)
        return obj

    def _list(
        self,
        kind: type[_Obj],
        parent: str,
        base: str,
        names: dict[str, str],
        unchanged: _Unchanged | None = None,
    ) -> list[_Obj]:
        """The ``kind`` objects under ``base``, read with everything else under ``parent`` (a
        key prefix ending with ``/``) in one consistent, paged read. With ``unchanged`` (for
        endpoints), a value stored exactly as wanted is only named there, not decoded.

        Every key under ``parent`` is accounted for: a key that is not an object of the layout
        gives a placeholder (``unreadable``) named by the key; keys under ``base/<name>/`` with
        no object ``base/<name>`` give one placeholder ``<name>``. Placeholders are foreign:
        the Broker reports them and never removes the parent around them.
        """
        nested = kind is not Endpoint
        kind_name = kind.__name__.lower()
        expected = None if unchanged is None else unchanged.expected
        unchanged_keys = [] if unchanged is None else unchanged.keys
        cut = len(base)
        group = base[:-1]  # the cache's group of the objects listed
        known = self._cache.group(group)
        result: list[_Obj] = []
        orphans: dict[str, int] = {}
        # (key, name, raw value, revision) of each child object's key, for the second read; an
        # endpoint listing decodes page by page, holding one page of raw messages at a time
        objects: list[tuple[str, str, bytes, int]] = []
        #: one int per revision (a batch of writes gives many keys the same one)
        revisions: dict[int, int] = {}
        revision = 0
        for at, restart, kvs in self.client.pages(parent, keys_only=nested):
            if restart:
                revision, result, orphans, objects = at, [], {}, []
                unchanged_keys.clear()
            fresh: dict[str, tuple[int, RegistryObject]] = {}
            for kv in kvs:
                raw_key = kv.key
                if expected is not None and expected.get(raw_key) == kv.value:
                    unchanged_keys.append(raw_key)  # stored as wanted: not decoded
                    continue
                key = raw_key.decode(errors="replace")
                name = key[cut:] if key.startswith(base) else ""
                if name and "/" not in name:
                    mod = kv.mod_revision
                    mod = revisions.setdefault(mod, mod)
                    if nested:
                        objects.append((key, name, kv.value, mod))
                    else:
                        result.append(
                            self._decode(kind, key, name, mod, kv.value, names, known, fresh)
                        )
                    continue
                top = name.split("/", 1)[0]
                if nested and top:
                    orphans[top] = orphans.get(top, 0) + 1  # settled once all keys are read
                    continue
                stray = f"key {key} is not a {kind_name} of the registry layout"
                result.append(kind.stored({**names, "name": key}, unreadable=stray))
            self._cache.put_many(group, fresh)
        if nested:
            # a namespace or service listing needs only the values of the objects themselves,
            # not of everything under them: keys first, then those values at the same revision
            for _key, name, _value, _mod in objects:
                orphans.pop(name, None)  # keys of the child's own, read when it is listed
            values = self.client.get_many([k.encode() for k, *_ in objects], revision)
            fresh = {}
            for key, name, _value, _mod in objects:
                found = values.get(key.encode())
                if found is None:
                    continue  # deleted since the keys were read
                mod = found.mod_revision
                result.append(self._decode(kind, key, name, mod, found.value, names, known, fresh))
            self._cache.put_many(group, fresh)
        for top, count in orphans.items():
            reason = f"{count} key(s) under {base}{top}/ but no {kind_name} key {base}{top}"
            result.append(kind.stored({**names, "name": top}, unreadable=reason))
        return result

    def get_ns(self, name: str) -> Namespace:
        _need(name, errors.NamespaceNameNotProvidedError)
        key = layout.ns_key(self.prefix, name)
        return self._get(Namespace, key, {"name": name}, f"namespace {name!r}")

    def list_ns(self) -> list[Namespace]:
        base = f"{self.prefix}namespaces/"
        return self._list(Namespace, base, base, {})

    def get_serv(self, ns_name: str, serv_name: str) -> Service:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        key = layout.serv_key(self.prefix, ns_name, serv_name)
        names = {"name": serv_name, "ns_name": ns_name}
        return self._get(Service, key, names, f"service {ns_name}/{serv_name}")

    def list_serv(self, ns_name: str) -> list[Service]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        parent = layout.ns_key(self.prefix, ns_name) + "/"
        return self._list(Service, parent, parent + "services/", {"ns_name": ns_name})

    def get_endp(self, ns_name: str, serv_name: str, endp_name: str) -> Endpoint:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        key = layout.endp_key(self.prefix, ns_name, serv_name, endp_name)
        names = {"name": endp_name, "ns_name": ns_name, "serv_name": serv_name}
        return self._get(Endpoint, key, names, f"endpoint {ns_name}/{serv_name}/{endp_name}")

    def list_endp(self, ns_name: str, serv_name: str) -> list[Endpoint]:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        parent = layout.serv_key(self.prefix, ns_name, serv_name) + "/"
        names = {"ns_name": ns_name, "serv_name": serv_name}
        return self._list(Endpoint, parent, parent + "endpoints/", names)

    def list_endp_unchanged(
        self, ns_name: str, serv_name: str, wanted: Mapping[str, Wanted]
    ) -> tuple[list[Endpoint], list[str]]:
        """``list_endp`` less the endpoints stored byte for byte as ``wanted`` would be written
        (see :class:`~servregistry.registry.UnchangedEndpointReader`): those are named, not
        decoded, nor kept in the cache (nothing is written to them). A value written otherwise
        (quoted scalars, another key order) is decoded and listed as usual."""
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        parent = layout.serv_key(self.prefix, ns_name, serv_name) + "/"
        names = {"ns_name": ns_name, "serv_name": serv_name}
        unchanged = _Unchanged(self.prefix, ns_name, serv_name, wanted)
        listed = self._list(Endpoint, parent, parent + "endpoints/", names, unchanged)
        return listed, unchanged.names()

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
            compare = mod_is(key, seen)
        elif update:
            compare = exists(key)
        else:
            compare = absent(key)
        value = layout.encode(obj)
        return _Write(obj.name, key, compare, put_op(key, value), parents, update, seen, obj, value)

    def _delete_write(self, key: str, label: str) -> _Write:
        seen = self._revision(key)
        compare = mod_is(key, seen) if seen is not None else exists(key)
        name = key.rsplit("/", 1)[-1]
        return _Write(name, key, compare, delete_op(key), [], True, seen, label=label)

    def _explain(self, write: _Write, ambiguous: bool) -> errors.ServiceRegistryError | None:
        """Why a guarded write did not apply (one extra read, only on failure); None if it
        had in fact been applied by an earlier attempt of the same transaction (``ambiguous``:
        that attempt failed in a way that does not say whether etcd applied it)."""
        key, seen = write.key, write.seen
        label = write.label or (
            f"{type(write.obj).__name__.lower()} {key.removeprefix(self.prefix)}"
        )
        for parent, message in write.parents:
            if self.client.get(parent)[0] is None:
                return errors.ParentNotFoundError(message)
        value, meta = self.client.get(key)
        if ambiguous and value == write.value:  # our put is in place, or the key is gone
            if value is None or meta is None or write.obj is None:
                self._seen(key, None)
            else:
                self._remember([write], meta.mod_revision)
            return None
        if not write.update:
            return errors.AlreadyExistsError(f"{label} already exists")
        self._seen(key, None)
        if value is None or meta is None:
            return errors.NotFoundError(f"{label} not found")
        return errors.ConflictError(
            f"{label} changed in etcd since it was read (revision {seen} → "
            f"{meta.mod_revision}); nothing was written, retry"
        )

    def _commit(self, write: _Write, ambiguous: bool = False) -> None:
        result = self.client.transaction(
            compare=[*_guards(write.parents), write.compare], success=[write.op], failure=[]
        )
        if not result.succeeded:
            failure = self._explain(write, ambiguous or result.ambiguous)
            if failure is not None:
                raise failure
            return
        self._remember([write], result.revision)

    def _remember(self, writes: list[_Write], revision: int) -> None:
        """After a committed transaction, record each key's new revision (and the object now
        stored), so the next guard is exact and the next read needs no decoding."""
        for write in writes:
            self._seen(write.key, revision, write.obj)

    def _write(self, obj: _Obj, *, update: bool) -> _Obj:
        self._commit(self._put_write(obj, update=update))
        return obj

    def _delete_tree(self, key: str, label: str, not_empty: type[errors.NotEmptyError]) -> None:
        """Delete ``key`` and the keys under it, guarded so that nothing is removed that this
        registry has not read and decoded as an object of its own, at the revision it read.

        The keys under ``key/`` are read (one consistent, paged read at revision R); a key this
        registry does not know at that revision (never read, changed since, or not decodable)
        keeps everything (``not_empty``). The transaction then holds only if ``key`` is as read
        and no key under it was created or changed after R, so the range delete removes a
        subset of exactly the keys checked.
        """
        revision, kvs = self.client.scan(key + "/", keys_only=True)
        unknown = [
            kv.key.decode(errors="replace")
            for kv in kvs
            if not self._known(kv.key.decode(errors="replace"), kv.mod_revision)
        ]
        if unknown:
            shown = ", ".join(k.removeprefix(key + "/") for k in unknown[:5])
            more = f", … ({len(unknown)} in all)" if len(unknown) > 5 else ""
            raise not_empty(
                f"{label} kept: it holds keys this registry has not read as its own objects "
                f"({shown}{more}); nothing was deleted"
            )
        seen = self._revision(key)
        child = key + "/"
        end = prefix_range_end(child.encode())
        compares = [
            mod_is(key, seen) if seen is not None else exists(key),
            etcd3.transactions.Mod(child, end) < revision + 1,
        ]
        ops = [delete_op(key), etcd3.transactions.Delete(child, range_end=end)]
        result = self.client.transaction(compare=compares, success=ops, failure=[])
        if not result.succeeded:
            value, meta = self.client.get(key)
            if value is None and result.ambiguous:
                pass  # an earlier attempt of this very transaction deleted it
            elif value is None or meta is None:
                self._seen(key, None)
                raise errors.NotFoundError(f"{label} not found")
            else:
                self._seen(key, None)
                raise errors.ConflictError(
                    f"{label} or a key under it changed in etcd since it was read; nothing "
                    "was deleted, retry"
                )
        self._cache.drop_tree(key, (kv.key.decode(errors="replace") for kv in kvs))

    def create_ns(self, ns: Namespace) -> Namespace:
        return self._write(ns, update=False)

    def update_ns(self, ns: Namespace) -> Namespace:
        return self._write(ns, update=True)

    def delete_ns(self, name: str) -> None:
        """Delete the namespace and the services and endpoints under it that this registry
        has read (see :meth:`_delete_tree`); any other key under it keeps everything."""
        _need(name, errors.NamespaceNameNotProvidedError)
        key = layout.ns_key(self.prefix, name)
        self._delete_tree(key, f"namespace {name!r}", errors.NamespaceNotEmptyError)

    def create_serv(self, serv: Service) -> Service:
        return self._write(serv, update=False)

    def update_serv(self, serv: Service) -> Service:
        return self._write(serv, update=True)

    def delete_serv(self, ns_name: str, serv_name: str) -> None:
        """Delete the service and the endpoints under it that this registry has read (see
        :meth:`_delete_tree`); any other key under it keeps everything."""
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        key = layout.serv_key(self.prefix, ns_name, serv_name)
        self._delete_tree(key, f"service {ns_name}/{serv_name}", errors.ServiceNotEmptyError)

    def create_endp(self, endp: Endpoint) -> Endpoint:
        return self._write(endp, update=False)

    def update_endp(self, endp: Endpoint) -> Endpoint:
        return self._write(endp, update=True)

    def delete_endp(self, ns_name: str, serv_name: str, endp_name: str) -> None:
        _need(ns_name, errors.NamespaceNameNotProvidedError)
        _need(serv_name, errors.ServiceNameNotProvidedError)
        _need(endp_name, errors.EndpointNameNotProvidedError)
        key = layout.endp_key(self.prefix, ns_name, serv_name, endp_name)
        self._commit(self._delete_write(key, f"endpoint {ns_name}/{serv_name}/{endp_name}"))

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
        when this returns or raises. A write the listing it was computed from does not allow
        (``changes.current``; see ``writes_not_in_listing``) is not sent.
        """
        refused = {} if changes.current is None else writes_not_in_listing(changes, changes.current)
        probe = Endpoint("probe", changes.ns_name, changes.serv_name, "127.0.0.1", 0)
        parents = self._parents(probe)
        guard = _guards(parents)

        def writes() -> Iterator[_Write]:
            for name in changes.delete:
                if name in refused:
                    continue
                key = layout.endp_key(self.prefix, changes.ns_name, changes.serv_name, name)
                label = f"endpoint {changes.ns_name}/{changes.serv_name}/{name}"
                yield self._delete_write(key, label)
            for endp in changes.update:
                if endp.name not in refused:
                    yield self._put_write(endp, update=True, parents=parents)
            for endp in changes.create:
                if endp.name not in refused:
                    yield self._put_write(endp, update=False, parents=parents)

        failures: dict[str, errors.ServiceRegistryError] = dict(refused)
        batches = _batched(writes(), MAX_TXN_OPS - len(guard))
        breaker = CircuitBreaker()  # once etcd is out of reach, no further batch is sent
        pool = ThreadPoolExecutor(max_workers=PIPELINE_DEPTH)
        try:
            # batches are built as the pipeline drains: a large set is never held as messages
            # all at once, only the batches submitted and not yet answered
            in_flight: deque[Future[dict[str, errors.ServiceRegistryError]]] = deque()
            for batch in batches:
                if len(in_flight) >= 2 * PIPELINE_DEPTH:
                    failures.update(in_flight.popleft().result())
                in_flight.append(
                    pool.submit(breaker.call, partial(self._commit_batch, guard, batch))
                )
            while in_flight:
                failures.update(in_flight.popleft().result())
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
        ops = [w.op for w in batch]
        result = self.client.transaction(compare=compares, success=ops, failure=[])
        if result.succeeded:
            self._remember(batch, result.revision)
            return {}
        failures: dict[str, errors.ServiceRegistryError] = {}
        for write in batch:
            try:
                self._commit(write, ambiguous=result.ambiguous)
            except UNREACHABLE:
                raise  # etcd itself, not this endpoint: trips the breaker
            except errors.ServiceRegistryError as exc:
                failures[write.name] = exc
        return failures


class _Unchanged:
    """What :meth:`EtcdRegistry.list_endp_unchanged` looks for as it reads (the stored value
    of each wanted endpoint, where it can be written plain), and what it found."""

    def __init__(self, prefix: str, ns_name: str, serv_name: str, wanted: Mapping[str, Wanted]):
        self._texts = layout.PlainEndpointText(prefix, ns_name, serv_name)
        #: the key of each endpoint whose stored value can be expected → that value
        self.expected = self._texts.of(wanted)
        #: the keys found holding it
        self.keys: list[bytes] = []

    def names(self) -> list[str]:
        return self._texts.names_of(self.keys)


def _batched(items: Iterator[_T], size: int) -> Iterator[list[_T]]:
    """Lists of ``size`` items (the last one shorter), built as they are consumed."""
    while batch := list(itertools.islice(items, size)):
        yield batch


def _guards(parents: list[tuple[str, str]]) -> list[Any]:
    """Compares that hold while every parent key exists."""
    return [exists(parent) for parent, _ in parents]


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


def _system_ca_bundle() -> str | None:
    """The system's CA bundle (e.g. /etc/ssl/certs/ca-certificates.crt), if it has one;
    otherwise None, and gRPC's own roots are used."""
    paths = ssl.get_default_verify_paths()
    for path in (paths.cafile, paths.openssl_cafile):
        if path and os.path.isfile(path):
            return path
    return None
