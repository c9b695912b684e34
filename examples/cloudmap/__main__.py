"""Register a service in AWS Cloud Map; credentials come from boto3's own chain.

pulumi config set region eu-west-1
pulumi config set endpointUrl http://127.0.0.1:5000   # optional: a local endpoint
"""

import pulumi

import pulumi_servregistry as sr

config = pulumi.Config()
registry = sr.CloudMapRegistry(
    region=config.get("region") or "us-east-1", endpoint_url=config.get("endpointUrl")
)

ns = sr.RegistryNamespace("inventory", name="inventory", registry=registry)
svc = sr.RegistryService(
    "inventory-api", namespace=ns.name, name="api", metadata={"tier": "backend"}, registry=registry
)
sr.RegistryEndpointSet(
    "inventory-api-endpoints",
    namespace=ns.name,
    service=svc.name,
    endpoints=[
        sr.EndpointArgs(address="10.1.0.5", port=8443),
        sr.EndpointArgs(address="2001:db8::5", port=8443),
    ],
    registry=registry,
)
pulumi.export("namespace_id", ns.native_id)
