"""Register a service in etcd under the CN-WAN layout.

Settings are stack config in the ``servregistry`` namespace (any other key there, or in this
project's own namespace, stops the program and names the key):

    pulumi config set servregistry:registry etcd://127.0.0.1:2379/service-registry/
    pulumi config set --secret servregistry:etcdPassword ...   # only with etcd auth on

``make example-etcd`` runs it end to end against a private etcd on a free loopback port.
"""

import pulumi

import pulumi_servregistry as sr
from servregistry.stack_config import check_program_config

check_program_config()

ns = sr.RegistryNamespace("orders", name="orders")
svc = sr.RegistryService("orders-http", namespace=ns.name, name="http", metadata={"proto": "http"})
sr.RegistryEndpointSet(
    "orders-http-endpoints",
    namespace=ns.name,
    service=svc.name,
    endpoints=[{"address": "192.0.2.10", "port": 80}, {"address": "192.0.2.11", "port": 80}],
)
pulumi.export("service_key", svc.native_id)
