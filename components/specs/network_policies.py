"""NetworkPolicies of one pool: only the gateway's proxies (the proxy-only subnet) reach the picker's
ext_proc port and the model servers; only the metrics collector reaches the metrics ports; only the picker's
own pods reach its placement-sharing port.
Pure builders returning typed pulumi-kubernetes Args; InferenceService turns them into resources."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi_kubernetes as k8s

from components.specs.picker_workload import PICKER_GRPC_PORT, PICKER_HEALTH_PORT, PICKER_METRICS_PORT

net = k8s.networking.v1
meta = k8s.meta.v1

# Google Cloud health checkers probe backends from these ranges (GKE Gateway health checks).
GOOGLE_HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# Managed Service for Prometheus: its collector pods run in gmp-system with this label.
METRICS_COLLECTOR_NAMESPACE = "gmp-system"
METRICS_COLLECTOR_LABELS = {"app.kubernetes.io/name": "collector"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace


@dataclass(frozen=True, kw_only=True)
class PoolNetworkPolicyInputs:
    """What one pool's policies need: who the pods are, and where the gateway's proxies connect from."""

    pool_name: str
    namespace: str
    model_server_labels: dict[str, str]
    model_server_port: int
    picker_labels: dict[str, str]
    proxy_only_ranges: Sequence[str]
    # Ports only the pool's picker may reach on the model servers (their KV-cache event publishers).
    picker_only_ports: Sequence[int] = ()
    # The UDP port on which active-active picker replicas share placements (None: they do not).
    picker_placement_port: int | None = None

    def __post_init__(self) -> None:
        if not self.proxy_only_ranges:
            raise ValueError(
                f"pool {self.pool_name}: proxy_only_ranges is empty; pass the proxy-only subnet range of "
                "every region whose gateway reaches this cluster (e.g. 10.129.0.0/23)"
            )
        for cidr in self.proxy_only_ranges:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"pool {self.pool_name}: proxy-only range {cidr!r}: {error}") from None
        if not 1 <= self.model_server_port <= 65_535:
            raise ValueError(
                f"pool {self.pool_name}: model_server_port {self.model_server_port} not in 1-65535"
            )
        if not self.model_server_labels or not self.picker_labels:
            raise ValueError(
                f"pool {self.pool_name}: pod labels must not be empty (an empty selector selects all)"
            )


def _ports(*numbers: int, protocol: str = "TCP") -> list[net.NetworkPolicyPortArgs]:
    return [net.NetworkPolicyPortArgs(port=number, protocol=protocol) for number in numbers]


def _pods(labels: dict[str, str]) -> net.NetworkPolicyPeerArgs:
    """The pods with ``labels`` in the policy's own namespace."""
    return net.NetworkPolicyPeerArgs(pod_selector=meta.LabelSelectorArgs(match_labels=dict(labels)))


def _ip_blocks(cidrs: Sequence[str]) -> list[net.NetworkPolicyPeerArgs]:
    return [net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=cidr)) for cidr in cidrs]


def _metrics_collector() -> net.NetworkPolicyPeerArgs:
    # Both selectors in one peer: collector pods *in* gmp-system, not any pod there or any collector.
    return net.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(
            match_labels={NAMESPACE_NAME_LABEL: METRICS_COLLECTOR_NAMESPACE}
        ),
        pod_selector=meta.LabelSelectorArgs(match_labels=METRICS_COLLECTOR_LABELS),
    )


def picker_network_policy(inputs: PoolNetworkPolicyInputs) -> net.NetworkPolicySpecArgs:
    """Ingress to the picker: ext_proc (9002) from the proxies, gRPC health (9003) from the proxies and
    Google's health checkers, metrics (9090) from the collector, and for active-active replicas their
    placements (UDP 9004) from the picker's own pods only (whoever reaches that port steers placements).
    Egress is left open: the picker talks to the API server, scrapes the model servers and sends its
    peers placements, addresses a policy cannot pin down."""
    ingress = [
        net.NetworkPolicyIngressRuleArgs(from_=_ip_blocks(inputs.proxy_only_ranges), ports=_ports(PICKER_GRPC_PORT)),
        net.NetworkPolicyIngressRuleArgs(
            from_=_ip_blocks([*inputs.proxy_only_ranges, *GOOGLE_HEALTH_CHECK_RANGES]),
            ports=_ports(PICKER_HEALTH_PORT),
        ),
        net.NetworkPolicyIngressRuleArgs(from_=[_metrics_collector()], ports=_ports(PICKER_METRICS_PORT)),
    ]
    if inputs.picker_placement_port is not None:
        ingress.append(
            net.NetworkPolicyIngressRuleArgs(
                from_=[_pods(inputs.picker_labels)], ports=_ports(inputs.picker_placement_port, protocol="UDP")
            )
        )
    return net.NetworkPolicySpecArgs(
        pod_selector=meta.LabelSelectorArgs(match_labels=dict(inputs.picker_labels)),
        policy_types=["Ingress"],
        ingress=ingress,
    )


def model_server_network_policy(inputs: PoolNetworkPolicyInputs) -> net.NetworkPolicySpecArgs:
    """Ingress to the model servers' one port: the proxies (traffic), Google's health checkers, the
    pool's picker (it scrapes /metrics there) and the collector (PodMonitoring)."""
    picker = _pods(inputs.picker_labels)
    ingress = [
        net.NetworkPolicyIngressRuleArgs(
            from_=[
                *_ip_blocks([*inputs.proxy_only_ranges, *GOOGLE_HEALTH_CHECK_RANGES]),
                picker,
                _metrics_collector(),
            ],
            ports=_ports(inputs.model_server_port),
        )
    ]
    if inputs.picker_only_ports:
        # The KV-cache event publishers (and replay): the picker subscribes, nobody else.
        ingress.append(net.NetworkPolicyIngressRuleArgs(from_=[picker], ports=_ports(*inputs.picker_only_ports)))
    return net.NetworkPolicySpecArgs(
        pod_selector=meta.LabelSelectorArgs(match_labels=dict(inputs.model_server_labels)),
        policy_types=["Ingress"],
        ingress=ingress,
    )


def pool_network_policies(inputs: PoolNetworkPolicyInputs) -> dict[str, net.NetworkPolicySpecArgs]:
    """Policy name -> spec, for the pool's picker and model servers."""
    return {
        f"{inputs.pool_name}-epp-ingress": picker_network_policy(inputs),
        f"{inputs.pool_name}-model-server-ingress": model_server_network_policy(inputs),
    }
