"""Provider of ``RegistryEndpointSet``: the endpoints one resource of a stack holds in one
service (other endpoint sets of the stack may hold others in the same service).

Inputs (state keys): ``namespace``, ``service``, ``endpoints`` (a list of ``{name, address,
port, metadata}``; ``check`` fills a missing name with the seed's stable naming), ``registry``,
``owner_key``, ``owner_value``, ``stack``. Outputs add ``registry_url``, ``native_id`` (the
service's), ``foreign_endpoints`` (names left alone because they are not ours) and
``endpoint_errors`` (name → problem found by the last read).

Reconciliation goes through ``Broker.manage_serv_endps``: only the difference is written, in the
backend's batch path where it has one. A per-endpoint failure fails the operation with every
error in the message; nothing already written is lost and the next ``up`` converges. An
endpoint we declare that exists but is someone else's is such a failure, never overwritten.

Within the stack, each endpoint set reconciles only the endpoints it holds (those with its
holder pair, see ``ownership``): the endpoints of another set of the stack are neither foreign
nor removed. ``check`` refuses a second set of the stack declaring the same endpoint.
"""

from __future__ import annotations

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
    check_metadata,
    check_name,
    is_unknown,
    user_props,
)
from servregistry.providers.ownership import holder_name, new_instance
from servregistry.providers.reporting import warn
from servregistry.registry import ServiceRegistry


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
        for index, item in enumerate(raw):
            field = f"endpoints[{index}]"
            endp = self._check_endpoint(item, field, ns, serv, news, failures, settings_ok)
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
        settings_ok: bool,
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
            settings_ok and bool(ns and serv),
            field_prefix=f"{field}.",
        )
        endp = {"name": name, "address": address, "port": port, "metadata": metadata}
        return {k: v for k, v in endp.items() if v is not None}

    def diff(self, _id: str, olds: Props, news: Props) -> DiffResult:
        endpoints_changed = is_unknown(news.get("endpoints")) or _canonical(
            olds.get("endpoints")
        ) != _canonical(news.get("endpoints"))
        return self.diff_identity(olds, news, ("namespace", "service"), endpoints_changed)

    def create(self, props: Props) -> CreateResult:
        inputs = user_props(props)
        outs = self._apply(inputs, new_instance(), previous=[])
        return CreateResult(f"{inputs['namespace']}/{inputs['service']}", outs)

    def update(self, _id: str, olds: Props, news: Props) -> UpdateResult:
        instance = olds.get("instance") or new_instance()
        return UpdateResult(self._apply(user_props(news), instance, _names(olds)))

    def _apply(self, inputs: Props, instance: str, previous: list[str]) -> Props:
        settings = self.settings(inputs, instance)
        broker = settings.broker()
        ns, serv = inputs["namespace"], inputs["service"]
        desired = [
            Endpoint(e["name"], ns, serv, e["address"], e["port"], e.get("metadata"))
            for e in _endpoint_list(inputs.get("endpoints"))
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
        return self._outputs(inputs, settings, broker, desired, foreign, {})

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
        declared = {e["name"] for e in _endpoint_list(inputs.get("endpoints"))}
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
        outs = self._outputs(inputs, settings, broker, ours, foreign, taken)
        return ReadResult(id_, outs, {**inputs, "endpoints": outs["endpoints"]})

    def delete(self, _id: str, props: Props) -> None:
        inputs = user_props(props)
        broker = self.settings(inputs).broker()
        ns, serv = inputs["namespace"], inputs["service"]
        try:
            failures = broker.manage_serv_endps(ns, serv, [], _names(props))
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
        broker: Broker,
        endpoints: list[Endpoint],
        foreign: list[str],
        problems: dict[str, str],
    ) -> Props:
        native = getattr(settings.registry(), "native_id", None)
        service = Service(inputs["service"], inputs["namespace"])
        return {
            **inputs,
            **settings.outputs(),
            "endpoints": [
                {
                    "name": e.name,
                    "address": e.address,
                    "port": e.port,
                    "metadata": broker.user_metadata(e.metadata),
                }
                for e in sorted(endpoints, key=lambda e: e.name)
            ],
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


def _names(props: Props) -> list[str]:
    """The names of the endpoints a state (old outputs) lists."""
    return [str(e.get("name")) for e in props.get("endpoints") or () if isinstance(e, Mapping)]


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
