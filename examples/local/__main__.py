"""A payments namespace with an API service and three endpoints, in the registry named by the
stack config ``servregistry:registry`` (``make demo`` points it at an embedded SQLite file)."""

import pulumi

import pulumi_servregistry as sr

config = pulumi.Config("demo")
replicas = config.get_int("replicas") or 3

payments = sr.RegistryNamespace("payments", name="payments", metadata={"team": "payments"})

api = sr.RegistryService(
    "payments-api",
    namespace=payments.name,
    name="api",
    metadata={"cnwan.io/traffic-profile": "standard", "version": config.get("version") or "v1"},
)

endpoints = sr.RegistryEndpointSet(
    "payments-api-endpoints",
    namespace=payments.name,
    service=api.name,
    endpoints=[
        sr.EndpointArgs(address=f"10.0.0.{10 + i}", port=8080, metadata={"zone": f"zone-{i % 2}"})
        for i in range(replicas)
    ],
)

pulumi.export("namespace", payments.native_id)
pulumi.export("service", api.native_id)
pulumi.export(
    "endpoints",
    endpoints.endpoints.apply(lambda es: [f"{e['address']}:{int(e['port'])}" for e in es]),
)
pulumi.export("foreign_endpoints", endpoints.foreign_endpoints)
