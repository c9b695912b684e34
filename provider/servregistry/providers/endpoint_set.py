"""Provider of ``RegistryEndpointSet``: the endpoints one resource of a stack holds in one
service (other endpoint sets of the stack may hold others in the same service).

Inputs (state keys): ``namespace``, ``service``, ``endpoints`` (a list of ``{name, address,
port, metadata}``; ``check`` fills a missing name with the seed's stable naming), ``registry``,
``owner_key``, ``owner_value``, ``stack``. Outputs are the inputs without ``endpoints``, plus
``endpoints_sha256`` and ``endpoint_count`` (the digest and number of the endpoints as last
applied or read: the state holds each endpoint once, in the inputs), ``registry_url``,
``native_id`` (the service's), ``foreign_endpoints`` (names left alone because they are not
ours) and ``endpoint_errors`` (name → problem found by the last read).

State written by earlier releases holds the whole ``endpoints`` list in the outputs too; every
operation accepts it (its digest is computed from the list), and the next update writes the
compact shape. ``read`` (refresh) returns the registry's endpoints as the inputs, so drift shows
in the next preview; its ``endpoint_errors`` can name a declared endpoint that someone else took
only for a state of the old shape (the compact shape keeps no names: there, the next ``check``
refuses such an endpoint, naming its owner).

Reconciliation goes through ``Broker.manage_serv_endps``: only the difference is written, in the
backend's batch path where it has one. A per-endpoint failure fails the operation with every
error in the message; nothing already written is lost and the next ``up`` converges. An
endpoint we declare that exists but is someone else's is such a failure, never overwritten.

Within the stack, each endpoint set reconciles only the endpoints it holds (those with its
holder pair, see ``ownership``): the endpoints of another set of the stack are neither foreign
nor removed. ``check`` refuses a second set of the stack declaring the same endpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    UpdateResult,
)

from servregistry import errors
from servregistry.broker import Broker
from servregistry.model import Endpoint, Service, endpoint_name
from servregistry.providers.base import (
    Props,
    RegistryProvider,
    Settings,
    WriteRules,
    check_metadata,
    check_name,
    is_unknown,
    user_props,
)
from servregistry.providers.ownership import holder_name, new_instance
from servregistry.providers.reporting import warn
from servregistry.registry import ServiceRegistry

#: the outputs that stand for the endpoint list in the state
DIGEST_KEYS = ("endpoints_sha256", "endpoint_count")


class EndpointSetProvider(RegistryProvider):
    """The dynamic provider behind ``RegistryEndpointSet``."""

    def check(self, _olds: Props, news: Props) -> CheckResult:
        failures: list[CheckFailure] = []
        settings_ok = self.check_settings(news, failures)
        ns = check_name(news.get("namespace"), "namespace", failures)
        serv = check_name(news.get("service"), "service", failures)
        raw = news.get("endpoints")
        if raw is None:
            raw = []
        if not isinstance(raw, list) and not is_unknown(raw):
            failures.append(CheckFailure("endpoints", "must be a list of endpoints"))
            return CheckResult(news, failures)
        if is_unknown(raw) and not isinstance(raw, list):
            return CheckResult(news, failures)
        normalized: list[Any] = []
        seen: dict[str, int] = {}
        rules = self.write_rules(news) if settings_ok and ns and serv and raw else None
        for index, item in enumerate(raw):
            field = f"endpoints[{index}]"
            endp = self._check_endpoint(item, field, ns, serv, news, failures, rules)
            normalized.append(endp if endp is not None else item)
            if endp is None or not isinstance(endp.get("name"), str):
                continue
            earlier = seen.setdefault(endp["name"], index)
            if earlier != index:
                failures.append(
                    CheckFailure(
                        f"{field}.name",
                        f"endpoint name {endp['name']!r} is also used by endpoints[{earlier}]",
                    )
                )
        if ns and serv and settings_ok:
            declared = {
                f"endpoints[{index}].name": ("endpoint", ns, serv, endp["name"])
                for index, endp in enumerate(normalized)
                if isinstance(endp, Mapping) and isinstance(endp.get("name"), str)
            }
            self.declare(news, "RegistryEndpointSet", declared, failures)
            if not failures:
                self.preflight(
                    news, lambda r, b, url: _taken(r, b, url, ns, serv, declared), failures
                )
        return CheckResult({**news, "endpoints": normalized}, failures)

    def _check_endpoint(
        self,
        item: Any,
        field: str,
        ns: str | None,
        serv: str | None,
        news: Props,
        failures: list[CheckFailure],
        rules: WriteRules | None,
    ) -> dict[str, Any] | None:
        if is_unknown(item) and not isinstance(item, Mapping):
            return None
        if not isinstance(item, Mapping):
            failures.append(CheckFailure(field, "must be a map with address, port and metadata"))
            return None
        unknown_keys = sorted(set(item) - {"name", "address", "port", "metadata"})
        if unknown_keys:
            failures.append(CheckFailure(field, f"unknown keys {unknown_keys}"))
            return None
        address: Any = item.get("address")
        port: Any = item.get("port")
        if isinstance(port, float) and port.is_integer():
            port = int(port)
        metadata = check_metadata(item.get("metadata"), f"{field}.metadata", failures)
        name = item.get("name") or None
        if any(is_unknown(v) for v in (name, address, port)) or metadata is None:
            return {k: v for k, v in item.items() if v is not None}
        if name is None and serv and isinstance(address, str) and isinstance(port, int):
            name = endpoint_name(serv, address, port)
        self.check_object(
            news,
            lambda: Endpoint(
                name or "unnamed", ns or "ns", serv or "serv", address, port, metadata
            ),
            failures,
            rules is not None,
            field_prefix=f"{field}.",
            rules=rules,
        )
        endp = {"name": name, "address": address, "port": port, "metadata": metadata}
        return {k: v for k, v in endp.items() if v is not None}

    def diff(self, _id: str, olds: Props, news: Props) -> DiffResult:
        endpoints_changed = is_unknown(news.get("endpoints")) or digest(
            news.get("endpoints")
        ) != _state_digest(olds)
        return self.diff_identity(olds, news, ("namespace", "service"), endpoints_changed)

    def create(self, props: Props) -> CreateResult:
        inputs = user_props(props)
        outs = self._apply(inputs, new_instance(), previous=[])
        return CreateResult(f"{inputs['namespace']}/{inputs['service']}", outs)

    def update(self, _id: str, olds: Props, news: Props) -> UpdateResult:
        instance = olds.get("instance") or new_instance()
        return UpdateResult(self._apply(user_props(news), instance, _legacy_names(olds)))

    def _apply(self, inputs: Props, instance: str, previous: list[str]) -> Props:
        settings = self.settings(inputs, instance)
        broker = settings.broker()
        ns, serv = inputs["namespace"], inputs["service"]
        listed = inputs.get("endpoints")
        desired = [
            Endpoint(e["name"], ns, serv, e["address"], e["port"], e.get("metadata"))
            for e in _endpoint_list(listed)
        ]
        failures = broker.manage_serv_endps(ns, serv, desired, previous)
        wanted = {e.name for e in desired}
        foreign = sorted(
            n
            for n, exc in failures.items()
            if isinstance(exc, errors.EndpointNotOwnedError) and n not in wanted
        )
        if foreign:
            warn(
                f"{len(foreign)} endpoint(s) of {ns}/{serv} in {settings.location} are not ours "
                f"and were left alone: {', '.join(foreign)}"
            )
        problems = {n: exc for n, exc in failures.items() if n not in foreign}
        if problems:
            details = "; ".join(f"{n}: {exc}" for n, exc in sorted(problems.items()))
            raise errors.ServiceRegistryError(
                f"{len(problems)} endpoint(s) of {ns}/{serv} could not be reconciled "
                f"(the others were; run up again to retry): {details}"
            )
        return self._outputs(inputs, settings, listed, foreign, {})

    def read(self, id_: str, props: Props) -> ReadResult:
        inputs = user_props(props)
        settings = self.settings(inputs)
        broker = settings.broker()
        ns, serv = inputs["namespace"], inputs["service"]
        registry = settings.registry()
        try:
            registry.get_serv(ns, serv)
            current = registry.list_endp(ns, serv)
        except errors.NotFoundError:
            return ReadResult(None, {})
        # only a state of the old shape lists the endpoints (the new shape's endpoints all
        # carry our holder pair): its names recognise ours written before holder pairs
        declared = set(_legacy_names(inputs))
        ours = [e for e in current if broker.holds(e, legacy=e.name in declared)]
        foreign = sorted(e.name for e in current if not broker.owns(e))
        taken = {
            n: "registered by someone else since the last update; it will not be overwritten"
            for n in sorted(declared & set(foreign))
        }
        for endp in current:
            held_by = broker.holder_of(endp)
            if endp.name in declared and broker.held_elsewhere(endp) and held_by:
                taken[endp.name] = (
                    f"held by resource {holder_name(held_by)!r} of this stack since the last "
                    "update; the next update takes it back"
                )
        endpoints = listing(ours, broker)
        outs = self._outputs(inputs, settings, endpoints, foreign, taken)
        kept = {k: v for k, v in inputs.items() if k not in (*DIGEST_KEYS, "endpoints")}
        return ReadResult(id_, outs, {**kept, "endpoints": endpoints})

    def delete(self, _id: str, props: Props) -> None:
        inputs = user_props(props)
        broker = self.settings(inputs).broker()
        ns, serv = inputs["namespace"], inputs["service"]
        try:
            failures = broker.manage_serv_endps(ns, serv, [], _legacy_names(props))
        except errors.NotFoundError:
            return  # the service (and so its endpoints) is gone already
        problems = {
            n: exc
            for n, exc in failures.items()
            if not isinstance(exc, errors.EndpointNotOwnedError | errors.NotFoundError)
        }
        if problems:
            details = "; ".join(f"{n}: {exc}" for n, exc in sorted(problems.items()))
            raise errors.ServiceRegistryError(
                f"could not remove {len(problems)} endpoint(s) of {ns}/{serv}: {details}"
            )

    def _outputs(
        self,
        inputs: Props,
        settings: Settings,
        endpoints: Any,
        foreign: list[str],
        problems: dict[str, str],
    ) -> Props:
        """The state's outputs: the inputs but their endpoint list, which the digest and count
        stand for (an SDK resolves the ``endpoints`` attribute from the inputs)."""
        native = getattr(settings.registry(), "native_id", None)
        service = Service(inputs["service"], inputs["namespace"])
        return {
            **{k: v for k, v in inputs.items() if k != "endpoints"},
            **settings.outputs(),
            "endpoints_sha256": digest(endpoints),
            "endpoint_count": len(endpoints or ()),
            "foreign_endpoints": foreign,
            "endpoint_errors": problems,
            "native_id": native(service) if native else f"{service.ns_name}/{service.name}",
        }


def _taken(
    registry: ServiceRegistry,
    broker: Broker,
    url: str,
    ns: str,
    serv: str,
    declared: Mapping[str, tuple[str, ...]],
) -> list[CheckFailure]:
    """A failure per declared endpoint that exists in the registry and is someone else's."""
    foreign = {e.name: e for e in registry.list_endp(ns, serv) if not broker.owns(e)}
    return [
        CheckFailure(
            field,
            f"endpoint {ns}/{serv}/{path[-1]} already exists in {url} and is not ours "
            f"({broker.describe_owner(foreign[path[-1]])}); it would be left unchanged. Pick "
            "another name, or have its owner remove it.",
        )
        for field, path in declared.items()
        if path[-1] in foreign
    ]


def _legacy_names(props: Props) -> list[str]:
    """The names of the endpoints a state (old outputs) lists: only a state written before the
    outputs held a digest does, and only its endpoints may lack our holder pair (those written
    before holder pairs existed); a state of the new shape lists none and needs none."""
    return [str(e.get("name")) for e in props.get("endpoints") or () if isinstance(e, Mapping)]


def listing(endpoints: list[Endpoint], broker: Broker) -> list[dict[str, Any]]:
    """Registered endpoints as the ``endpoints`` input lists them (user metadata only), by
    name."""
    return [
        {
            "name": e.name,
            "address": e.address,
            "port": e.port,
            "metadata": broker.user_metadata(e.metadata),
        }
        for e in sorted(endpoints, key=lambda e: e.name)
    ]


def as_declared(service: str, endpoints: Any) -> list[dict[str, Any]]:
    """An ``endpoints`` input as ``check`` leaves it (a missing name is the stable name), by
    name: what an SDK shows as the set's endpoints, which the outputs no longer repeat."""
    named = []
    for item in endpoints or ():
        port = int(item["port"])
        name = item.get("name") or endpoint_name(service, item["address"], port)
        named.append(
            {
                "name": name,
                "address": item["address"],
                "port": port,
                "metadata": dict(item.get("metadata") or {}),
            }
        )
    return sorted(named, key=lambda e: e["name"])


def digest(endpoints: Any) -> str:
    """The sha256 of an endpoint list in its canonical form (see ``_canonical``): equal for
    equal endpoints whatever their order and number types."""
    text = json.dumps(_canonical(endpoints), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _state_digest(olds: Props) -> str:
    """The digest of the endpoints a state's outputs stand for, in either shape."""
    stored = olds.get(DIGEST_KEYS[0])
    return stored if isinstance(stored, str) else digest(olds.get("endpoints"))


def _endpoint_list(value: Any) -> list[dict[str, Any]]:
    endpoints: list[dict[str, Any]] = []
    for item in value or ():
        port = item["port"]
        endpoints.append(
            {
                "name": item["name"],
                "address": item["address"],
                "port": int(port),
                "metadata": dict(item.get("metadata") or {}),
            }
        )
    return endpoints


def _canonical(value: Any) -> list[tuple[Any, ...]]:
    """Endpoints in a form that compares equal whatever the order and number types."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            return [("?", repr(value))]
        port = item.get("port")
        out.append(
            (
                str(item.get("name")),
                str(item.get("address")),
                int(port) if isinstance(port, int | float) else repr(port),
                tuple(sorted((item.get("metadata") or {}).items())),
            )
        )
    return sorted(out)
