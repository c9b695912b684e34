"""Register a pulumi_kubernetes LoadBalancer Service: its ingress IPs and ports become
endpoints, its `cnwan.io/*` annotations the service metadata. The registry comes from the
stack config `servregistry:registry`."""

import pulumi
import pulumi_kubernetes as k8s

import pulumi_servregistry as sr

labels = {"app": "checkout"}
svc = k8s.core.v1.Service(
    "checkout",
    metadata=k8s.meta.v1.ObjectMetaArgs(
        name="checkout", namespace="shop", annotations={"cnwan.io/traffic-profile": "standard"}
    ),
    spec=k8s.core.v1.ServiceSpecArgs(
        type="LoadBalancer", selector=labels, ports=[k8s.core.v1.ServicePortArgs(port=443)]
    ),
)

registration = sr.KubernetesServiceRegistration(
    "checkout", service=svc, service_annotations=["cnwan.io/*"]
)
pulumi.export("skipped_addresses", registration.skipped)
