"""The etcd client layer: which member a call goes to, what a gRPC failure means, paged reads.

python3-etcd3 supplies the protocol (its generated gRPC stubs and messages); its multi-member
client is not used, because its failover does not work for us: it starts on a random member,
marks *whichever member is current* as failed when any call fails (with several calls in flight
that is often the wrong one), refuses a failed member for a fixed time with a raw
``ValueError``, and never retries a call elsewhere. Here:

* each call runs under one deadline (``timeout``), split between the members it may try;
* a member that refuses connections, drops a call or does not answer in its share of the
  deadline is marked (it goes to the back of the order for a while, never out of it) and the
  call moves on to the next member at once; a channel that could not connect is replaced, so a
  member that comes back is used again at once (gRPC would otherwise back off for up to two
  minutes);
* a cluster that cannot serve (no leader, leader changed, proposal dropped, too many requests)
  is retried, with a short pause between rounds, until the deadline: a lost quorum ends as
  ``RegistryTimeoutError``, members that all refuse connections as ``RegistryUnavailableError``;
* a transaction that may have been applied before it failed (a dropped connection, a timeout)
  is still retried, and the result says so (``ambiguous``): every transaction we send is
  guarded, so a repeat cannot apply twice, and the caller checks whether the first one did;
* prefix reads are paged (``PAGE_KEYS`` keys a page, fewer when a page would exceed the receive
  limit), all pages at the revision of the first, so a read of any size is one consistent view;
* an expired auth token is renewed once and the call repeated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from servregistry import errors

try:
    import grpc
    from etcd3 import etcdrpc
    from etcd3.client import KVMetadata, Transactions
    from etcd3.utils import prefix_range_end
except ImportError as exc:  # pragma: no cover - exercised by open_registry's message
    raise errors.MissingDependencyError(
        "the etcd backend needs python3-etcd3: pip install 'pulumi-servregistry[etcd]'"
    ) from exc

__all__ = [
    "PAGE_KEYS",
    "EtcdClient",
    "TxnResult",
    "absent",
    "delete_op",
    "exists",
    "mod_is",
    "prefix_range_end",
    "put_op",
]

#: keys per page of a prefix read (about 225 bytes each for an endpoint: a page of endpoints is
#: about 4 MiB, and a service of up to this many endpoints is read in one round trip)
PAGE_KEYS = 16384
#: range requests per transaction when values are fetched by key (etcd's --max-txn-ops)
PAGE_OPS = 128
#: the largest response accepted; a page that would exceed it is read again in smaller pages
MAX_RECEIVE_BYTES = 32 * 1024 * 1024
#: a member that failed is tried after the others for this long
MEMBER_PENALTY = 10.0
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ("grpc.max_send_message_length", MAX_RECEIVE_BYTES),
    # gRPC waits up to two minutes between reconnection attempts; a member that is back must
    # be used at once (a channel that failed to connect is also replaced, see _Member)
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # also the shortest time a connection attempt may take (a TLS handshake far away)
    ("grpc.min_reconnect_backoff_ms", 3000),
]
_ROUND_PAUSE = (0.05, 0.5)  # first and longest pause between rounds over the members


class _Fault(Enum):
    """What a failed call says about the member and about the request."""

    CONNECT = "cannot connect"  # never reached the member: not applied
    LOST = "connection lost"  # the member went away mid-call: maybe applied
    TIMEOUT = "no answer in time"  # maybe applied
    CLUSTER = "cluster cannot serve"  # no leader, leader changed, overloaded: maybe applied
    AUTH = "auth token rejected"
    TOO_LARGE = "response too large"
    COMPACTED = "revision compacted"
    FATAL = "refused"


_TRANSIENT = (_Fault.CONNECT, _Fault.LOST, _Fault.TIMEOUT, _Fault.CLUSTER)


def _classify(exc: grpc.RpcError) -> _Fault:
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else str(exc)) or ""
    text = details.lower()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED or "deadline exceeded" in text:
        return _Fault.TIMEOUT
    if "timed out" in text:  # etcd's "request timed out", or a connection attempt's
        return _Fault.TIMEOUT
    if code == grpc.StatusCode.UNAVAILABLE:
        if text.startswith("etcdserver:"):
            return _Fault.CLUSTER
        if "failed to connect" in text or "connection refused" in text or "dns" in text:
            return _Fault.CONNECT
        return _Fault.LOST
    if code == grpc.StatusCode.CANCELLED:
        return _Fault.LOST
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return _Fault.AUTH
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return _Fault.TOO_LARGE if "larger than max" in text else _Fault.CLUSTER
    if "compacted" in text:
        return _Fault.COMPACTED
    if "proposal dropped" in text or "leader" in text or "not capable" in text:
        return _Fault.CLUSTER
    return _Fault.FATAL


class _Compacted(errors.BackendError):
    """The revision a paged read started at was compacted away; the read starts again."""


class _TooLarge(errors.BackendError):
    """A response exceeded MAX_RECEIVE_BYTES; a paged read asks for fewer keys."""


@dataclass(eq=False)
class _Member:
    netloc: str
    credentials: grpc.ChannelCredentials | None
    failed_at: float = -MEMBER_PENALTY
    channel: grpc.Channel = field(init=False)
    kv: Any = field(init=False)
    auth: Any = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._open()

    def _open(self) -> None:
        if self.credentials is None:
            self.channel = grpc.insecure_channel(self.netloc, options=_CHANNEL_OPTIONS)
        else:
            self.channel = grpc.secure_channel(
                self.netloc, self.credentials, options=_CHANNEL_OPTIONS
            )
        self.kv = etcdrpc.KVStub(self.channel)
        self.auth = etcdrpc.AuthStub(self.channel)

    def reconnect(self, failed: grpc.Channel) -> None:
        """Replace the channel that could not connect (unless another call already did)."""
        with self.lock:
            if self.channel is failed:
                self._open()
                failed.close()

    def close(self) -> None:
        self.channel.close()


class TxnResult(NamedTuple):
    """A transaction's outcome: whether its compares held, the per-operation responses, the
    revision after it, and whether an earlier attempt of it may already have been applied."""

    succeeded: bool
    responses: list[Any]
    revision: int
    ambiguous: bool


class EtcdClient:
    """Calls to an etcd cluster of one or more members (see the module docstring).

    ``get``, ``get_prefix``, ``transaction``, ``put`` and ``delete_prefix`` keep the shape of
    python3-etcd3's client (``(value, KVMetadata)`` pairs, its compare and operation objects), so
    code written against that client reads the same.
    """

    transactions = Transactions()

    def __init__(
        self,
        members: Sequence[tuple[str, int]],
        *,
        timeout: float,
        credentials: grpc.ChannelCredentials | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.timeout = timeout
        self._members = [_Member(f"{host}:{port}", credentials) for host, port in members]
        self._preferred = 0
        self._state = threading.Lock()
        self._user, self._password = user, password
        self._token: str | None = None
        self._auth_lock = threading.Lock()

    def close(self) -> None:
        for member in self._members:
            member.close()

    # the call loop ----------------------------------------------------------------------------

    def _order(self) -> list[_Member]:
        """The members to try: the one that answered last first, then the others in turn; a
        member that failed recently goes to the back."""
        now = time.monotonic()
        with self._state:
            start = self._preferred
        ring = self._members[start:] + self._members[:start]
        return sorted(ring, key=lambda m: now - m.failed_at < MEMBER_PENALTY)

    def _failed(self, member: _Member) -> None:
        member.failed_at = time.monotonic()
        with self._state:
            if self._members[self._preferred] is member:
                self._preferred = (self._members.index(member) + 1) % len(self._members)

    def _answered(self, member: _Member) -> None:
        with self._state:
            self._preferred = self._members.index(member)

    def _call(
        self, method: str, request: Any, *, auth: bool = True, renewed: bool = False
    ) -> tuple[Any, bool]:
        """Send one request, moving between members as the module docstring says. Returns the
        response and whether an earlier attempt may have been applied."""
        deadline = time.monotonic() + self.timeout
        ambiguous = False
        seen: list[str] = []
        faults: set[_Fault] = set()
        pause = _ROUND_PAUSE[0]
        while True:
            round_faults: set[_Fault] = set()
            order = self._order()
            for index, member in enumerate(order):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                share = remaining / (len(order) - index)
                metadata = self._metadata() if auth else None
                channel = member.channel
                stub = member.auth if method == "Authenticate" else member.kv
                try:
                    response = getattr(stub, method)(request, timeout=share, metadata=metadata)
                except ValueError as exc:  # gRPC refuses to send on a closed channel
                    if member.channel is channel:
                        raise errors.RegistryUnavailableError(
                            f"the etcd client for {member.netloc} was closed during the call"
                        ) from exc
                    continue  # another call replaced this channel as we took it: not sent
                except grpc.RpcError as exc:
                    fault = _classify(exc)
                    anonymous = fault is _Fault.AUTH or "user name is empty" in _details(exc)
                    if anonymous and self._user is None:
                        raise errors.InvalidInputError(
                            field="registry.user",
                            rule=f"etcd at {member.netloc} requires authentication: pass "
                            "?user=NAME in the registry URL and set its password",
                        ) from exc
                    if fault is _Fault.AUTH and auth and not renewed:
                        self._renew(metadata)
                        response, again = self._call(method, request, renewed=True)
                        return response, ambiguous or again
                    if fault not in _TRANSIENT:
                        raise _error(fault, exc, member.netloc) from exc
                    if fault is _Fault.CONNECT:
                        member.reconnect(channel)
                    else:
                        ambiguous = True
                    self._failed(member)
                    round_faults.add(fault)
                    seen.append(f"{member.netloc}: {fault.value} ({_details(exc)})")
                    continue
                self._answered(member)
                return response, ambiguous
            faults |= round_faults
            remaining = deadline - time.monotonic()
            if round_faults == {_Fault.CONNECT} or remaining <= 0:
                raise _exhausted(faults, seen, self.timeout)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _ROUND_PAUSE[1])

    # auth -------------------------------------------------------------------------------------

    def _metadata(self) -> tuple[tuple[str, str], ...] | None:
        if self._user is None:
            return None
        token = self._token
        if token is None:
            token = self._renew(None)
        return (("token", token),)

    def _renew(self, stale: tuple[tuple[str, str], ...] | None) -> str:
        """Authenticate (again); another thread's fresh token is reused."""
        with self._auth_lock:
            if self._token is not None and (stale is None or stale[0][1] != self._token):
                return self._token
            request = etcdrpc.AuthenticateRequest(name=self._user, password=self._password)
            try:
                response, _ = self._call("Authenticate", request, auth=False)
            except errors.BackendError as exc:
                if "authentication failed" in str(exc):
                    raise errors.InvalidInputError(
                        field="registry.password",
                        rule=f"etcd refused user {self._user!r} with this password",
                    ) from exc
                raise
            self._token = str(response.token)
            return self._token

    # the calls --------------------------------------------------------------------------------

    def range(self, request: Any) -> Any:
        """One Range request (no paging)."""
        return self._call("Range", request)[0]

    def get(self, key: str | bytes) -> tuple[bytes | None, KVMetadata | None]:
        """The value and metadata of ``key``, or ``(None, None)``."""
        response = self.range(etcdrpc.RangeRequest(key=_bytes(key)))
        if not response.kvs:
            return None, None
        kv = response.kvs[0]
        return kv.value, KVMetadata(kv, response.header)

    def scan(self, prefix: str | bytes, *, keys_only: bool = False) -> tuple[int, list[Any]]:
        """Every key under ``prefix`` (etcd ``KeyValue`` messages, in key order) at one
        revision, read in pages; returns that revision and the keys."""
        revision, found = 0, list[Any]()
        for at, restart, kvs in self.pages(prefix, keys_only=keys_only):
            if restart:
                revision, found = at, []
            found.extend(kvs)
        return revision, found

    def pages(
        self, prefix: str | bytes, *, keys_only: bool = False
    ) -> Iterator[tuple[int, bool, Sequence[Any]]]:
        """The keys under ``prefix`` page by page, all at one revision: ``(revision, restart,
        kvs)``, where ``restart`` is true on the first page of a read and the caller drops what
        it kept of earlier pages (the revision was compacted while we paged, so the read starts
        again at a newer one). A caller that decodes each page as it comes holds one page of
        raw messages at a time, never the whole prefix."""
        start = _bytes(prefix)
        end = prefix_range_end(start)
        for _attempt in range(3):
            revision, key, limit = 0, start, PAGE_KEYS
            try:
                while True:
                    request = etcdrpc.RangeRequest(
                        key=key, range_end=end, limit=limit, revision=revision, keys_only=keys_only
                    )
                    try:
                        response = self.range(request)
                    except _TooLarge:
                        if limit == 1:
                            raise
                        limit = max(1, limit // 4)
                        continue
                    first = not revision
                    revision = revision or int(response.header.revision)
                    kvs = response.kvs
                    yield revision, first, kvs
                    if not response.more or not kvs:
                        return
                    key = kvs[-1].key + b"\0"
            except _Compacted:
                continue  # compacted while we paged: read again at a newer revision
        raise errors.BackendError(
            f"etcd compacted {start.decode(errors='replace')!r} three times while it was being "
            "read; retry, or compact less often"
        )

    def get_prefix(
        self, prefix: str | bytes, *, keys_only: bool = False, **_order: Any
    ) -> list[tuple[bytes, KVMetadata]]:
        """``(value, metadata)`` for every key under ``prefix``, in key order (whatever order
        is asked for), paged, at one revision (every metadata's ``response_header``)."""
        revision, kvs = self.scan(prefix, keys_only=keys_only)
        header = etcdrpc.ResponseHeader(revision=revision)
        return [(kv.value, KVMetadata(kv, header)) for kv in kvs]

    def get_many(self, keys: Sequence[bytes], revision: int) -> dict[bytes, Any]:
        """The ``KeyValue`` of each of ``keys`` that exists at ``revision`` (the revision of
        the read that found them; the current one if it has been compacted since), read in
        transactions of ``PAGE_OPS`` range requests."""
        found: dict[bytes, Any] = {}
        for start in range(0, len(keys), PAGE_OPS):
            chunk = keys[start : start + PAGE_OPS]
            try:
                responses = self._get_chunk(chunk, revision)
            except _Compacted:
                responses = self._get_chunk(chunk, 0)
            for response in responses:
                for kv in response.response_range.kvs:
                    found[kv.key] = kv
        return found

    def _get_chunk(self, keys: Sequence[bytes], revision: int) -> list[Any]:
        ops = [
            etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=k, revision=revision))
            for k in keys
        ]
        response, _ = self._call("Txn", etcdrpc.TxnRequest(success=ops))
        return list(response.responses)

    def transaction(
        self, compare: Sequence[Any], success: Sequence[Any], failure: Sequence[Any] = ()
    ) -> TxnResult:
        """A transaction of compares and operations: python3-etcd3's objects, or the messages
        :func:`mod_is`, :func:`exists`, :func:`absent`, :func:`put_op` and :func:`delete_op`
        build directly (what an endpoint set uses: no intermediate object per write)."""
        request = etcdrpc.TxnRequest(
            compare=[c if isinstance(c, _COMPARE) else c.build_message() for c in compare],
            success=[o if isinstance(o, _REQUEST_OP) else _op(o) for o in success],
            failure=[o if isinstance(o, _REQUEST_OP) else _op(o) for o in failure],
        )
        response, ambiguous = self._call("Txn", request)
        return TxnResult(
            bool(response.succeeded),
            list(response.responses),
            int(response.header.revision),
            ambiguous,
        )

    def put(self, key: str | bytes, value: str | bytes) -> None:
        """An unguarded put (tests and benchmarks write foreign data with it)."""
        self._call("Put", etcdrpc.PutRequest(key=_bytes(key), value=_bytes(value)))

    def delete_prefix(self, prefix: str | bytes) -> None:
        """An unguarded range delete (benchmarks clean up with it)."""
        start = _bytes(prefix)
        request = etcdrpc.DeleteRangeRequest(key=start, range_end=prefix_range_end(start))
        self._call("DeleteRange", request)


_COMPARE = etcdrpc.Compare
_REQUEST_OP = etcdrpc.RequestOp


def mod_is(key: str | bytes, revision: int) -> Any:
    """Compare: ``key`` was last modified at ``revision``."""
    return _COMPARE(
        key=_bytes(key), result=_COMPARE.EQUAL, target=_COMPARE.MOD, mod_revision=revision
    )


def exists(key: str | bytes) -> Any:
    """Compare: ``key`` exists."""
    return _COMPARE(key=_bytes(key), result=_COMPARE.GREATER, target=_COMPARE.CREATE)


def absent(key: str | bytes) -> Any:
    """Compare: ``key`` does not exist."""
    return _COMPARE(key=_bytes(key), result=_COMPARE.EQUAL, target=_COMPARE.CREATE)


def put_op(key: str | bytes, value: bytes) -> Any:
    """Operation: put ``value`` at ``key``."""
    return _REQUEST_OP(request_put=etcdrpc.PutRequest(key=_bytes(key), value=value))


def delete_op(key: str | bytes) -> Any:
    """Operation: delete ``key`` (one key)."""
    return _REQUEST_OP(request_delete_range=etcdrpc.DeleteRangeRequest(key=_bytes(key)))


def _op(op: Any) -> Any:
    """A python3-etcd3 operation as a gRPC RequestOp."""
    tx = Transactions()
    if isinstance(op, tx.put):
        put = etcdrpc.PutRequest(key=_bytes(op.key), value=_bytes(op.value))
        return etcdrpc.RequestOp(request_put=put)
    if isinstance(op, tx.delete):
        delete = etcdrpc.DeleteRangeRequest(key=_bytes(op.key))
        if op.range_end is not None:
            delete.range_end = _bytes(op.range_end)
        return etcdrpc.RequestOp(request_delete_range=delete)
    if isinstance(op, tx.get):
        get = etcdrpc.RangeRequest(key=_bytes(op.key))
        if op.range_end is not None:
            get.range_end = _bytes(op.range_end)
        return etcdrpc.RequestOp(request_range=get)
    raise TypeError(f"unsupported transaction operation {type(op).__name__}")


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _details(exc: grpc.RpcError) -> str:
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return (details or str(exc)).splitlines()[0][:200]


def _error(fault: _Fault, exc: grpc.RpcError, netloc: str) -> errors.ServiceRegistryError:
    code = exc.code() if hasattr(exc, "code") else None
    details = _details(exc)
    if fault is _Fault.COMPACTED:
        return _Compacted(f"etcd at {netloc}: {details}")
    if fault is _Fault.TOO_LARGE:
        return _TooLarge(f"etcd at {netloc}: a response exceeded {MAX_RECEIVE_BYTES} bytes")
    name = code.name if code is not None else "error"
    return errors.BackendError(f"etcd at {netloc} refused the request: {name}: {details}")


def _exhausted(faults: set[_Fault], seen: list[str], timeout: float) -> errors.ServiceRegistryError:
    """The error of a call that no member served."""
    tried = "; ".join(dict.fromkeys(seen))
    if faults & {_Fault.TIMEOUT, _Fault.CLUSTER}:
        return errors.RegistryTimeoutError(
            f"etcd did not answer in time ({timeout:g} s; raise ?timeout= in the registry URL "
            f"if the cluster is just slow, or check its quorum): {tried}"
        )
    return errors.RegistryUnavailableError(
        f"cannot reach etcd (check the registry URL's members and that etcd runs): {tried}"
    )
