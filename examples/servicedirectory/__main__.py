"""Register a service in Google Service Directory (Application Default Credentials), or in
the local emulator (``servregistry emulate servicedirectory`` prints its URL).

Settings are stack config in the ``servregistry`` namespace (any other key there, or in this
project's own namespace, stops the program and names the key):

    pulumi config set servregistry:registry servicedirectory://my-project/us-central1
    pulumi config set servregistry:registry \\
        'servicedirectory://my-project/us-central1?endpoint=127.0.0.1:9090'   # the emulator

``make example-servicedirectory`` runs it end to end against the emulator.
"""

import pulumi

import pulumi_servregistry as sr
from servregistry.stack_config import check_program_config

check_program_config()

ns = sr.RegistryNamespace("search", name="search")
svc = sr.RegistryService(
    "search-grpc", namespace=ns.name, name="grpc", metadata={"cnwan.io/traffic": "realtime"}
)
sr.RegistryEndpointSet(
    "search-grpc-endpoints",
    namespace=ns.name,
    service=svc.name,
    endpoints=[sr.EndpointArgs(name="search-a", address="10.2.0.7", port=9000)],
)
pulumi.export("service_name", svc.native_id)
