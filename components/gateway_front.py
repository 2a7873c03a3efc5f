"""GatewayFront: what the config (or only) cluster puts in front of the pools: the Gateway (awaited until
GKE gave it an address), the body-based router when routes match model names, the Model Armor extension,
the HTTPRoutes, and each pool's HealthCheckPolicy and GCPBackendPolicy. Reads no config beyond its Args.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.config.services import ServicesConfig
from components.runtime.kube_object import KubeObjectWithStatus
from components.runtime.kube_objects import KubeObjects
from components.specs.body_based_router import (
    BBR_LABELS,
    BBR_NAME,
    bbr_health_check_policy_spec,
    bbr_pod_spec,
    bbr_routing_extension_spec,
    bbr_service_ports,
)
from components.specs.conventions import GATEWAY_ADDRESS_WAIT, GATEWAY_TIMEOUT, WAIT_FOR, Topology
from components.specs.model_armor_extension import model_armor_extension_spec
from components.specs.traffic_specs import (
    backend_policy_spec,
    gateway_spec,
    health_check_policy_spec,
    http_route_spec,
)


@dataclass(frozen=True, kw_only=True)
class GatewayFrontArgs:
    services: ServicesConfig
    provider: k8s.Provider
    topology: Topology
    # Multi-cluster: one gateway address per region with a target cluster.
    gateway_regions: Sequence[str] = field(default_factory=tuple)
    # Single cluster: the InferencePools routes and policies target (multi-cluster targets are the imports
    # GKE creates later, so nothing to wait for).
    pools: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # What the Gateway's proxies need (the proxy-only subnets): created before it, deleted after it.
    gateway_depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    model_armor_template: str | None = None
    model_armor_location: str | None = None
    base: Sequence[pulumi.Resource] = field(default_factory=tuple)
    cluster_ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    resource_prefix: str


class GatewayFront(pulumi.ComponentResource):
    """Outputs `gateway_name` and `gateway_addresses` (known once GKE programmed the Gateway)."""

    gateway_addresses: pulumi.Output[list[str]]

    def __init__(self, name: str, args: GatewayFrontArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("infgw:index:GatewayFront", name, None, opts)
        self._args = args
        self._kube = KubeObjects(
            self, args.provider, args.services.namespace, args.resource_prefix, args.base, args.cluster_ready
        )
        self.gateway_name = self._build()
        self.register_outputs({"gatewayName": self.gateway_name, "gatewayAddresses": self.gateway_addresses})

    def _build(self) -> str:
        services = self._args.services
        multi = self._args.topology == "multi"
        gateway_name = services.gateway.name
        spec = gateway_spec(services.gateway, multi, self._args.gateway_regions)
        # Awaited until GKE gave it an address; its proxies need the proxy-only subnets, which therefore
        # also outlive it on `pulumi destroy`.
        gateway = KubeObjectWithStatus(
            f"{self._kube.prefix}-gateway",
            api_version=spec.API.api_version,
            kind=spec.API.kind,
            metadata=self._kube.meta(gateway_name, annotations={WAIT_FOR: GATEWAY_ADDRESS_WAIT}),
            spec=spec.to_wire(),
            opts=self._kube.opts([*self._args.cluster_ready, *self._args.gateway_depends_on], GATEWAY_TIMEOUT),
        )
        self.gateway_addresses = gateway.status.apply(_gateway_addresses)
        if services.needs_body_based_routing:
            self._body_based_router(gateway_name, gateway)
        if services.model_armor is not None:
            assert self._args.model_armor_template is not None and self._args.model_armor_location is not None
            self._kube.custom_resource(
                "model-armor-extension",
                f"{gateway_name}-model-armor",
                model_armor_extension_spec(
                    gateway_name,
                    self._args.model_armor_location,
                    self._args.model_armor_template,
                    services.model_armor,
                ),
                depends_on=[gateway],
            )
        # Multi-cluster targets exist only once GKE imports the exported pools; they may resolve later.
        pools = [] if multi else list(self._args.pools)
        for route in services.effective_routes:
            self._kube.custom_resource(
                f"route-{route.name}",
                route.name,
                http_route_spec(route, gateway_name, multi),
                depends_on=[gateway, *pools],
            )
        for pool in services.pools:
            self._kube.custom_resource(
                f"{pool.name}-healthcheckpolicy",
                pool.name,
                health_check_policy_spec(pool, services.health_check, multi),
                depends_on=pools,
            )
            self._kube.custom_resource(
                f"{pool.name}-gcpbackendpolicy",
                pool.name,
                backend_policy_spec(pool, services.backend_policy, multi),
                depends_on=pools,
            )
        return gateway_name


    def _body_based_router(self, gateway_name: str, gateway: pulumi.Resource) -> None:
        deployment = self._kube.deployment(
            "bbr", BBR_NAME, BBR_LABELS, "body-based-router", self._args.services.body_based_router.replicas,
            bbr_pod_spec(self._args.services.body_based_router),
        )  # fmt: skip
        service = k8s.core.v1.Service(
            f"{self._kube.prefix}-bbr-service",
            metadata=self._kube.meta(BBR_NAME, labels=BBR_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(selector=BBR_LABELS, ports=bbr_service_ports()),
            opts=self._kube.opts([deployment]),
        )
        self._kube.custom_resource(
            "bbr-healthcheckpolicy", BBR_NAME, bbr_health_check_policy_spec(), depends_on=[service]
        )
        self._kube.custom_resource(
            "bbr-routingextension",
            BBR_NAME,
            bbr_routing_extension_spec(gateway_name, self._kube.namespace),
            depends_on=[gateway, service],
        )


def _gateway_addresses(status: object) -> list[str]:
    """`status.addresses[*].value` of a Gateway (empty until GKE assigned them)."""
    if not isinstance(status, dict):
        return []
    return [str(entry["value"]) for entry in status.get("addresses") or [] if entry.get("value")]
