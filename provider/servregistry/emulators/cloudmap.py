"""AWS Cloud Map on loopback: moto's server (``moto[server]``), made faithful to AWS where our
client depends on it, with dummy credentials.

Where moto is kinder than AWS, :func:`make_aws_faithful` patches it before it serves:

* ``RegisterInstance`` of an existing instance id updates that instance, as AWS does ("If the
  instance already exists, RegisterInstance updates it"); moto 5 appends a duplicate;
* ``ListNamespaces`` and ``ListServices`` apply ``Filters``, ``MaxResults`` and ``NextToken`` (at
  most 100 results a page), as AWS does; moto 5 ignores them;
* ``DeleteService`` of a service with instances and ``DeleteNamespace`` of a namespace with
  services fail with ``ResourceInUse``, as AWS does; moto 5 deletes them.

The patches change moto's classes in this process, so the server must run in it (moto's
``ThreadedMotoServer``, as :class:`MotoServer` does). Used by the tests and by
``servregistry emulate cloudmap``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from servregistry.emulators import EmulatorError, LocalServer
from servregistry.emulators.ports import free_port

__all__ = ["DUMMY_CREDENTIALS", "MotoServer", "make_aws_faithful"]

#: what boto3 needs to sign requests to moto (moto accepts any keys)
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _register_upserts() -> None:
    from moto.servicediscovery import models

    original = models.ServiceDiscoveryBackend.register_instance
    if getattr(original, "upserts", False):
        return

    def register_instance(self: Any, service_id: str, instance_id: str, **kwargs: Any) -> str:
        service = self.get_service(service_id)
        service.instances = [i for i in service.instances if i.instance_id != instance_id]
        return str(original(self, service_id=service_id, instance_id=instance_id, **kwargs))

    register_instance.upserts = True  # type: ignore[attr-defined]
    models.ServiceDiscoveryBackend.register_instance = register_instance  # type: ignore[method-assign,assignment]


def _filter_and_paginate() -> None:
    from moto.servicediscovery import responses

    cls = responses.ServiceDiscoveryResponse
    if getattr(cls.list_services, "paginates", False):
        return
    original_ns, original_serv = cls.list_namespaces, cls.list_services

    def page(self: Any, key: str, items: list[dict[str, Any]], fields: dict[str, str]) -> str:
        params = json.loads(self.body or "{}")
        for flt in params.get("Filters", []):
            field = fields.get(flt["Name"])
            if field is not None and flt.get("Condition", "EQ") == "EQ":
                items = [i for i in items if i.get(field) in flt["Values"]]
        start = int(params.get("NextToken") or 0)
        size = min(int(params.get("MaxResults") or 100), 100)
        body: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            body["NextToken"] = str(start + size)
        return json.dumps(body)

    def list_namespaces(self: Any) -> Any:
        _status, _headers, raw = original_ns(self)
        items = json.loads(raw)["Namespaces"]
        return 200, {}, page(self, "Namespaces", items, {"TYPE": "Type", "NAME": "Name"})

    def list_services(self: Any) -> str:
        items = json.loads(original_serv(self))["Services"]
        return page(self, "Services", items, {"NAMESPACE_ID": "NamespaceId"})

    list_services.paginates = True  # type: ignore[attr-defined]
    cls.list_namespaces = list_namespaces  # type: ignore[method-assign]
    cls.list_services = list_services  # type: ignore[method-assign]


def _refuse_non_empty_deletes() -> None:
    """moto 5 deletes a service that still has instances, and a namespace that still has
    services; AWS refuses both with ResourceInUse ("you can't delete a service that contains any
    instances", API reference). Make the server refuse them, so nothing our backend leaves in
    place is removed behind its back by the stand-in."""
    from moto.core.exceptions import JsonRESTError
    from moto.servicediscovery import models

    cls = models.ServiceDiscoveryBackend
    if getattr(cls.delete_service, "refuses_non_empty", False):
        return
    original_serv, original_ns = cls.delete_service, cls.delete_namespace

    def delete_service(self: Any, service_id: str) -> None:
        service = self.services.get(service_id)
        if service is not None and service.instances:
            raise JsonRESTError("ResourceInUse", f"service {service_id} contains instances")
        original_serv(self, service_id)

    def delete_namespace(self: Any, namespace_id: str) -> str:
        if any(s.namespace_id == namespace_id for s in self.services.values()):
            raise JsonRESTError("ResourceInUse", f"namespace {namespace_id} contains services")
        return str(original_ns(self, namespace_id))

    delete_service.refuses_non_empty = True  # type: ignore[attr-defined]
    cls.delete_service = delete_service  # type: ignore[method-assign]
    cls.delete_namespace = delete_namespace  # type: ignore[method-assign]


def make_aws_faithful() -> None:
    """Patch moto's Cloud Map as the module docstring says (idempotent)."""
    _register_upserts()
    _filter_and_paginate()
    _refuse_non_empty_deletes()


class MotoServer(LocalServer):
    """moto's server on ``host:port`` (0: a free port), AWS-faithful, started on construction.

    ``endpoint_url`` is ``http://host:PORT``; ``url(region)`` the registry URL for it. Dummy
    credentials are set in this process's environment where none are (boto3 needs some).
    Raises EmulatorError when ``moto[server]`` is not installed.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise EmulatorError(
                f"moto's server is not installed ({exc}): pip install 'moto[server]>=5' "
                "(scripts/bootstrap does)"
            ) from exc
        for key, value in DUMMY_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        make_aws_faithful()
        self.port = port or free_port(host)
        self.endpoint_url = f"http://{host}:{self.port}"
        self._server = ThreadedMotoServer(ip_address=host, port=self.port, verbose=False)
        self._server.start()

    def url(self, region: str) -> str:
        """The registry URL of Cloud Map in ``region`` on this server."""
        return f"cloudmap://{region}?endpoint_url={self.endpoint_url}"

    def reset(self) -> None:
        """Forget every namespace, service and instance."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        self._server.stop()
