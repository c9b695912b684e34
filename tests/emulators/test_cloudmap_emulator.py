"""The Cloud Map stand-in keeps every instance when registrations and deregistrations arrive
concurrently, as an endpoint set's pool sends them (moto alone loses some)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.config

from servregistry.emulators.cloudmap import MotoServer


def test_concurrent_registrations_and_deregistrations_lose_no_instance(
    moto_server: MotoServer,
) -> None:
    client: Any = boto3.client(
        "servicediscovery",
        region_name="eu-west-1",
        endpoint_url=moto_server.endpoint_url,
        config=botocore.config.Config(max_pool_connections=32),
    )
    name = f"race-{uuid.uuid4().hex[:8]}"
    op = client.create_http_namespace(Name=name)["OperationId"]
    ns_id = client.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    serv_id = client.create_service(Name="web", NamespaceId=ns_id)["Service"]["Id"]
    ids = [f"i{k:04d}" for k in range(600)]

    def register(instance: str) -> None:
        attributes = {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}
        client.register_instance(ServiceId=serv_id, InstanceId=instance, Attributes=attributes)

    def deregister(instance: str) -> None:
        client.deregister_instance(ServiceId=serv_id, InstanceId=instance)

    def listed() -> set[str]:
        pages = client.get_paginator("list_instances").paginate(ServiceId=serv_id)
        return {i["Id"] for page in pages for i in page["Instances"]}

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(register, ids))
        assert listed() == set(ids)
        list(pool.map(deregister, ids[::2]))
        assert listed() == set(ids[1::2])
