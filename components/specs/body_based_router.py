"""The body-based router (GIE's BBR): copies the request body's `model` into X-Gateway-Model-Name.

Deployed beside the Gateway when a route matches on model names; the GKE load balancer calls it through a
GCPRoutingExtension before route matching. Pure builders; InferenceService creates the resources.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components.config.services import BodyBasedRouterSpec
from components.crds import (
    Extension,
    ExtensionChain,
    GCPRoutingExtensionSpec,
    GrpcHealthCheck,
    HealthCheck,
    HealthCheckPolicyConfig,
    HealthCheckPolicySpec,
    PolicyTargetReference,
    ServiceBackendRef,
    TargetRef,
)
from components.crds.api_versions import GATEWAY
from components.specs.container_security import container_security_context

BBR_NAME = "body-based-router"
BBR_GRPC_PORT = 9004
BBR_HEALTH_PORT = 9005
BBR_USER_ID = 65532
BBR_LABELS = {"app": BBR_NAME}

core = k8s.core.v1


def bbr_pod_spec(spec: BodyBasedRouterSpec) -> core.PodSpecArgs:
    health = core.GRPCActionArgs(port=BBR_HEALTH_PORT)
    return core.PodSpecArgs(
        containers=[
            core.ContainerArgs(
                name="bbr",
                image=spec.image,
                image_pull_policy="IfNotPresent",
                # The LB streams the body full-duplex, so BBR must run in streaming mode.
                args=["--streaming", "--v", "3"],
                ports=[
                    core.ContainerPortArgs(name="grpc", container_port=BBR_GRPC_PORT),
                    core.ContainerPortArgs(name="grpc-health", container_port=BBR_HEALTH_PORT),
                ],
                liveness_probe=core.ProbeArgs(grpc=health, period_seconds=10),
                readiness_probe=core.ProbeArgs(grpc=health, period_seconds=2),
                security_context=container_security_context(BBR_USER_ID),
            )
        ],
    )


def bbr_service_ports() -> list[core.ServicePortArgs]:
    return [
        core.ServicePortArgs(
            name="grpc", port=BBR_GRPC_PORT, target_port="grpc", protocol="TCP", app_protocol="HTTP2"
        )
    ]


def bbr_health_check_policy_spec() -> HealthCheckPolicySpec:
    """The LB checks the callout over gRPC health on its health port."""
    return HealthCheckPolicySpec(
        target_ref=PolicyTargetReference.service(BBR_NAME),
        default=HealthCheckPolicyConfig(
            config=HealthCheck(
                type="GRPC",
                grpc_health_check=GrpcHealthCheck(port_specification="USE_FIXED_PORT", port=BBR_HEALTH_PORT),
            )
        ),
    )


def bbr_routing_extension_spec(gateway_name: str, namespace: str) -> GCPRoutingExtensionSpec:
    """Runs BBR on request headers and body, before the LB matches routes on the header it sets."""
    return GCPRoutingExtensionSpec(
        target_refs=[TargetRef(group=GATEWAY.group, kind=GATEWAY.kind, name=gateway_name)],
        extension_chains=[
            ExtensionChain(
                name="model-name",
                extensions=[
                    Extension(
                        name=BBR_NAME,
                        authority=f"{BBR_NAME}.{namespace}.svc",
                        timeout="1s",
                        supported_events=["RequestHeaders", "RequestBody", "RequestTrailers"],
                        request_body_send_mode="FullDuplexStreamed",
                        backend_ref=ServiceBackendRef(name=BBR_NAME, port=BBR_GRPC_PORT),
                    )
                ],
            )
        ],
    )
