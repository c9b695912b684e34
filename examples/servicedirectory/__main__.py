"""Register a service in Google Service Directory (Application Default Credentials), or in the
local emulator (`servregistry emulate servicedirectory --port 9090`, then
`pulumi config set emulator 127.0.0.1:9090`)."""

import pulumi

import pulumi_servregistry as sr

config = pulumi.Config()
registry = sr.ServiceDirectoryRegistry(
    project=config.get("project") or "my-project",
    region=config.get("region") or "us-central1",
    endpoint=config.get("emulator"),
)

ns = sr.RegistryNamespace("search", name="search", registry=registry)
svc = sr.RegistryService(
    "search-grpc",
    namespace=ns.name,
    name="grpc",
    metadata={"cnwan.io/traffic": "realtime"},
    registry=registry,
)
sr.RegistryEndpointSet(
    "search-grpc-endpoints",
    namespace=ns.name,
    service=svc.name,
    endpoints=[sr.EndpointArgs(name="search-a", address="10.2.0.7", port=9000)],
    registry=registry,
)
pulumi.export("service_name", svc.native_id)
