"""Gateway, HTTPRoute rules and GKE LB policy specs from the services config (pure; CRD models out).

Single cluster: backends and policy targets are the InferencePools. Multi-cluster: the config cluster
points at the GCPInferencePoolImports GKE creates for the exported pools.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.config.services import (
    MULTI_CLUSTER_GATEWAY_CLASS,
    BackendPolicySpec,
    CustomMetricsBalancing,
    HealthCheckSpec,
    PoolSpec,
    RouteSpec,
)
from components.config.services import (
    GatewaySpec as GatewayConfig,
)
from components.crds import (
    BackendLogging,
    BackendObjectReference,
    BackendPolicyConfig,
    BackendRef,
    CustomMetric,
    GatewayAddress,
    GatewaySpec,
    GCPBackendPolicySpec,
    HeaderMatch,
    HealthCheck,
    HealthCheckPolicyConfig,
    HealthCheckPolicySpec,
    HttpHealthCheck,
    HTTPRouteSpec,
    Listener,
    ParentReference,
    PathMatch,
    PolicyTargetReference,
    RequestMirror,
    RouteFilter,
    RouteMatch,
    RouteRule,
    inference_pool_backend,
    pool_import_backend,
)
from components.crds.api_versions import GATEWAY
from components.crds.backend_policy import GKE_NAMED_METRIC_PREFIX

# Header the body-based router sets from the request body's `model`; routes match on it.
MODEL_NAME_HEADER = "X-Gateway-Model-Name"


def gateway_spec(gateway: GatewayConfig, multi_cluster: bool, regions: Sequence[str]) -> GatewaySpec:
    """Multi-cluster: the cross-regional internal class with one ephemeral address per region."""
    return GatewaySpec(
        gateway_class_name=MULTI_CLUSTER_GATEWAY_CLASS if multi_cluster else gateway.gateway_class,
        addresses=[GatewayAddress.ephemeral_in_region(region) for region in regions]
        if multi_cluster
        else None,
        listeners=[Listener(name="http", protocol="HTTP", port=gateway.port)],
    )


def _backend(pool: str, multi_cluster: bool, weight: int | None = None) -> BackendRef:
    return (pool_import_backend if multi_cluster else inference_pool_backend)(pool, weight=weight)


def route_rule(route: RouteSpec, multi_cluster: bool) -> RouteRule:
    """One rule: path (+ one model-name header match per model, OR-ed), weighted backends, mirror."""
    path = PathMatch(value=route.path_prefix)
    matches = (
        [
            RouteMatch(path=path, headers=[HeaderMatch(name=MODEL_NAME_HEADER, value=model)])
            for model in route.models
        ]
        if route.models
        else [RouteMatch(path=path)]
    )
    # A lone backend carries no weight: the seeds' routes stay byte-identical.
    weighted = len(route.backends) > 1
    backend_refs = [
        _backend(backend.pool, multi_cluster, backend.weight if weighted else None)
        for backend in route.backends
    ]
    filters = None
    if route.mirror is not None:
        target = _backend(route.mirror.pool, multi_cluster)
        filters = [
            RouteFilter(
                request_mirror=RequestMirror(
                    backend_ref=BackendObjectReference(
                        group=target.group, kind=target.kind, name=target.name
                    ),
                    percent=route.mirror.percent if route.mirror.percent < 100 else None,
                )
            )
        ]
    return RouteRule(matches=matches, filters=filters, backend_refs=backend_refs)


def http_route_spec(route: RouteSpec, gateway_name: str, multi_cluster: bool) -> HTTPRouteSpec:
    return HTTPRouteSpec(
        parent_refs=[ParentReference(group=GATEWAY.group, kind=GATEWAY.kind, name=gateway_name)],
        rules=[route_rule(route, multi_cluster)],
    )


def policy_target(pool: PoolSpec, multi_cluster: bool) -> PolicyTargetReference:
    if multi_cluster:
        return PolicyTargetReference.pool_import(pool.name)
    return PolicyTargetReference.inference_pool(pool.name)


def health_check_policy_spec(
    pool: PoolSpec, health: HealthCheckSpec, multi_cluster: bool
) -> HealthCheckPolicySpec:
    """The LB checks the model servers' /health on their port (a fixed port, as the public CRD requires)."""
    return HealthCheckPolicySpec(
        target_ref=policy_target(pool, multi_cluster),
        default=HealthCheckPolicyConfig(
            check_interval_sec=health.check_interval_s,
            timeout_sec=health.timeout_s,
            config=HealthCheck(
                http_health_check=HttpHealthCheck(
                    port_specification="USE_FIXED_PORT", port=pool.port, request_path=health.path
                )
            ),
        ),
    )


def backend_policy_config(policy: BackendPolicySpec) -> BackendPolicyConfig:
    """Exactly one balancing mode, LONG traffic (LLM requests run for seconds), timeout from config."""
    balancing = policy.balancing
    logging = BackendLogging(enabled=True) if policy.logging else None
    if isinstance(balancing, CustomMetricsBalancing):
        return BackendPolicyConfig(
            timeout_sec=policy.timeout_s,
            logging=logging,
            balancing_mode="CUSTOM_METRICS",
            traffic_duration="LONG",
            custom_metrics=[
                CustomMetric(
                    name=f"{GKE_NAMED_METRIC_PREFIX}{balancing.metric}",
                    dry_run=balancing.dry_run,
                    max_utilization_percent=balancing.max_utilization_percent,
                )
            ],
        )
    return BackendPolicyConfig(
        timeout_sec=policy.timeout_s,
        logging=logging,
        balancing_mode="IN_FLIGHT",
        traffic_duration="LONG",
        max_in_flight_requests_per_endpoint=balancing.max_requests_per_endpoint,
        dry_run=balancing.dry_run,
    )


def backend_policy_spec(
    pool: PoolSpec, policy: BackendPolicySpec, multi_cluster: bool
) -> GCPBackendPolicySpec:
    return GCPBackendPolicySpec(
        target_ref=policy_target(pool, multi_cluster), default=backend_policy_config(policy)
    )
