"""A Kubernetes Namespace and a LoadBalancer Service with two ports, created through
pulumi_kubernetes and registered in a service registry: the load balancer's ingress IPs crossed
with the ports become endpoints, the Service's `cnwan.io/*` annotations the service metadata.

`pulumi up` waits until the load balancer publishes its addresses (pulumi_kubernetes does), then
registers them. The registry comes from the stack config `servregistry:registry`; the cluster
from KUBECONFIG. Optional stack config (what `make example-kubernetes` and the tests vary):

    namespace      Kubernetes namespace, and registry namespace       (default: shop)
    ports          JSON list of {"name", "port"}                      (default: https 443, http 80)
    annotations    JSON map of Service annotations                    (default: below)
    deployService  false removes the Service and its registration, keeping the namespace

The Service has no selector, so pulumi_kubernetes does not wait for Pods behind it (a cluster
without workloads, such as a throwaway API server, has none); give it one in a real cluster.
"""

import pulumi
import pulumi_kubernetes as k8s

import pulumi_servregistry as sr

config = pulumi.Config()
ports = config.get_object("ports") or [{"name": "https", "port": 443}, {"name": "http", "port": 80}]
annotations = config.get_object("annotations") or {
    "cnwan.io/traffic-profile": "standard",
    "cnwan.io/team": "payments",
    "internal.example.com/build": "1234",  # not allowed below: never reaches the registry
}

namespace = k8s.core.v1.Namespace(
    "shop", metadata=k8s.meta.v1.ObjectMetaArgs(name=config.get("namespace") or "shop")
)

if config.get_bool("deployService") is not False:
    service = k8s.core.v1.Service(
        "checkout",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name="checkout", namespace=namespace.metadata.name, annotations=annotations
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="LoadBalancer",
            ports=[k8s.core.v1.ServicePortArgs(name=p["name"], port=p["port"]) for p in ports],
        ),
    )
    registration = sr.KubernetesServiceRegistration(
        "checkout-registry", service=service, service_annotations=["cnwan.io/*"]
    )
    pulumi.export("endpoints", registration.endpoint_set.endpoints)
    pulumi.export("skipped", registration.skipped)
