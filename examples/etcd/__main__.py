"""Register a service in etcd under the CN-WAN layout.

pulumi config set etcdEndpoints 127.0.0.1:2379
pulumi config set --secret servregistry:etcdPassword ...   # only with etcd auth on
"""

import pulumi

import pulumi_servregistry as sr

config = pulumi.Config()
registry = sr.EtcdRegistry(
    endpoints=(config.get("etcdEndpoints") or "127.0.0.1:2379").split(","),
    prefix=config.get("prefix"),
    user=config.get("etcdUser"),
)

ns = sr.RegistryNamespace("orders", name="orders", registry=registry)
svc = sr.RegistryService(
    "orders-http", namespace=ns.name, name="http", metadata={"proto": "http"}, registry=registry
)
sr.RegistryEndpointSet(
    "orders-http-endpoints",
    namespace=ns.name,
    service=svc.name,
    endpoints=[{"address": "192.0.2.10", "port": 80}, {"address": "192.0.2.11", "port": 80}],
    registry=registry,
)
pulumi.export("service_key", svc.native_id)
