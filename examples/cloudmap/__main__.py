"""Register a service in AWS Cloud Map (an HTTP namespace); credentials come from boto3's chain.

Settings are stack config in the ``servregistry`` namespace (any other key there, or in this
project's own namespace, stops the program and names the key):

    pulumi config set servregistry:registry cloudmap://eu-west-1
    pulumi config set servregistry:registry 'cloudmap://eu-west-1?endpoint_url=http://127.0.0.1:5000'

``make example-cloudmap`` runs it end to end against moto's server with dummy keys.
"""

import pulumi

import pulumi_servregistry as sr
from servregistry.stack_config import check_program_config

check_program_config()

ns = sr.RegistryNamespace("inventory", name="inventory")
svc = sr.RegistryService(
    "inventory-api", namespace=ns.name, name="api", metadata={"tier": "backend"}
)
sr.RegistryEndpointSet(
    "inventory-api-endpoints",
    namespace=ns.name,
    service=svc.name,
    endpoints=[
        sr.EndpointArgs(address="10.1.0.5", port=8443),
        sr.EndpointArgs(address="2001:db8::5", port=8443),
    ],
)
pulumi.export("namespace_id", ns.native_id)
