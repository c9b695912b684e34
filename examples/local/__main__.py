"""A payments namespace with an API service and three endpoints, in the embedded SQLite
registry (or any other: the registry is a URL).

Settings are stack config in the ``servregistry`` namespace (any other key there, or in this
project's own namespace, stops the program and names the key):

    pulumi config set servregistry:registry sqlite:///$PWD/registry.db

``make example-local`` runs it end to end on a throwaway file; ``make demo`` keeps its file.
"""

import pulumi

import pulumi_servregistry as sr
from servregistry.stack_config import check_program_config

check_program_config()

payments = sr.RegistryNamespace("payments", name="payments", metadata={"team": "payments"})

api = sr.RegistryService(
    "payments-api",
    namespace=payments.name,
    name="api",
    metadata={"cnwan.io/traffic-profile": "standard", "version": "v1"},
)

endpoints = sr.RegistryEndpointSet(
    "payments-api-endpoints",
    namespace=payments.name,
    service=api.name,
    endpoints=[
        sr.EndpointArgs(address=f"10.0.0.{10 + i}", port=8080, metadata={"zone": f"zone-{i % 2}"})
        for i in range(3)
    ],
)

pulumi.export("namespace", payments.native_id)
pulumi.export("service", api.native_id)
pulumi.export(
    "endpoints",
    endpoints.endpoints.apply(lambda es: [f"{e['address']}:{int(e['port'])}" for e in es]),
)
pulumi.export("foreign_endpoints", endpoints.foreign_endpoints)
