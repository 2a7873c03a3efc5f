"""The cross-region tier's configuration, read from the config cluster's rendered Gateway, HTTPRoute,
GCPBackendPolicy, HealthCheckPolicy and AutoscalingMetric objects (never from the stack config).

What each field stands for in Google's load balancer is in docs/local-gateway.md ("Regions").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from components.crds.backend_policy import GKE_NAMED_METRIC_PREFIX as NAMED_METRIC_PREFIX
from infgw.local.plan import DEFAULT_ROUTE_TIMEOUT_S
from infgw.plan.pool_wiring import POOL_KINDS, Body

# GCP health-check defaults (compute healthChecks: checkIntervalSec 5, timeoutSec 5, thresholds 2).
DEFAULT_CHECK_INTERVAL_S = 5.0
DEFAULT_CHECK_TIMEOUT_S = 5.0
DEFAULT_THRESHOLD = 2
# The Gateway address type GKE uses for one region of a cross-regional gateway.
REGIONAL_ADDRESS_TYPE = "networking.gke.io/ephemeral-ipv4-address/"


class TierConfigError(ValueError):
    """The rendered objects do not describe a cross-region tier; the message names the object and key."""


class BalancingMode(enum.StrEnum):
    CUSTOM_METRICS = "CUSTOM_METRICS"
    IN_FLIGHT = "IN_FLIGHT"
    RATE = "RATE"


class HealthCheck(BaseModel):
    """A HealthCheckPolicy's HTTP check on each model-server endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = "/"
    port: int | None = Field(None, description="USE_FIXED_PORT's port; None = the serving port.")
    interval_s: float = DEFAULT_CHECK_INTERVAL_S
    timeout_s: float = DEFAULT_CHECK_TIMEOUT_S
    healthy_threshold: int = DEFAULT_THRESHOLD
    unhealthy_threshold: int = DEFAULT_THRESHOLD


class UtilizationMetric(BaseModel):
    """The Prometheus gauge the AutoscalingMetric exports under ``export_name`` (0..1, 1 = 100%)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    export_name: str
    source_name: str = Field(description="The replicas' gauge, e.g. vllm:kv_cache_usage_perc.")
    path: str = "/metrics"


class TierConfig(BaseModel):
    """How the tier balances one exported pool across regions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gateway: str
    pool: str = Field(description="The exported pool the HTTPRoute's GCPInferencePoolImport names.")
    regions: tuple[str, ...] = Field(description="The Gateway's regional addresses, in listed order.")
    balancing_mode: BalancingMode
    metric: UtilizationMetric | None = Field(None, description="CUSTOM_METRICS: the metric balanced on.")
    max_utilization: float = Field(description="0..1: maxUtilizationPercent / 100 (IN_FLIGHT: 1.0).")
    dry_run: bool = Field(False, description="customMetrics dryRun: reported, not balanced on.")
    max_in_flight_per_endpoint: int | None = None
    timeout_s: float = DEFAULT_ROUTE_TIMEOUT_S
    health_check: HealthCheck = HealthCheck()


def _of_kind(objects: Iterable[Body], kind: str) -> list[Body]:
    return [o for o in objects if o.get("kind") == kind]


def _name(body: Body) -> str:
    return str(body.get("metadata", {}).get("name"))


def _targets(policy: Body, pool: str) -> bool:
    target = policy.get("spec", {}).get("targetRef") or {}
    return target.get("kind") in POOL_KINDS and target.get("name") == pool


def _exported_pool(objects: list[Body], gateway: str) -> str:
    for route in _of_kind(objects, "HTTPRoute"):
        if not any(ref.get("name") == gateway for ref in route["spec"].get("parentRefs") or []):
            continue
        for rule in route["spec"].get("rules") or []:
            for backend in rule.get("backendRefs") or []:
                if backend.get("kind") in POOL_KINDS:
                    return str(backend["name"])
    raise TierConfigError(
        f"no HTTPRoute attached to Gateway {gateway} sends to a GCPInferencePoolImport; the cross-region "
        "tier balances an exported pool (check the HTTPRoute's parentRefs and backendRefs)"
    )


def _health_check(objects: list[Body], pool: str) -> HealthCheck:
    policies = [p for p in _of_kind(objects, "HealthCheckPolicy") if _targets(p, pool)]
    if not policies:
        return HealthCheck()
    default = policies[0]["spec"].get("default") or {}
    config = default.get("config") or {}
    http = (
        config.get("httpHealthCheck")
        or config.get("httpsHealthCheck")
        or config.get("http2HealthCheck")
        or {}
    )
    port = http.get("port") if http.get("portSpecification", "USE_FIXED_PORT") == "USE_FIXED_PORT" else None
    return HealthCheck(
        path=str(http.get("requestPath", "/")),
        port=int(port) if port is not None else None,
        interval_s=float(default.get("checkIntervalSec", DEFAULT_CHECK_INTERVAL_S)),
        timeout_s=float(default.get("timeoutSec", DEFAULT_CHECK_TIMEOUT_S)),
        healthy_threshold=int(default.get("healthyThreshold", DEFAULT_THRESHOLD)),
        unhealthy_threshold=int(default.get("unhealthyThreshold", DEFAULT_THRESHOLD)),
    )


def _metric(objects: list[Body], export_name: str) -> UtilizationMetric:
    for exported in _of_kind(objects, "AutoscalingMetric"):
        for endpoint in exported["spec"].get("endpoints") or []:
            for metric in endpoint.get("metrics") or []:
                if metric.get("exportName", metric.get("name")) == export_name:
                    return UtilizationMetric(
                        export_name=export_name,
                        source_name=str(metric["name"]),
                        path=str(endpoint.get("path", "/metrics")),
                    )
    raise TierConfigError(
        f"the GCPBackendPolicy balances on {NAMED_METRIC_PREFIX}{export_name}, which no AutoscalingMetric "
        f"exports; add an AutoscalingMetric with exportName {export_name!r}"
    )


def tier_config(objects: Iterable[Body]) -> TierConfig:
    """The tier of the (one) cross-regional Gateway among the config cluster's rendered objects.

    Raises:
        TierConfigError: no regional Gateway, no exported pool behind it, or a policy naming a metric
            that is not exported.
    """
    items = list(objects)
    gateways = _of_kind(items, "Gateway")
    if not gateways:
        raise TierConfigError("the config cluster's manifests hold no Gateway")
    gateway = gateways[0]
    regions = tuple(
        str(address["value"])
        for address in gateway["spec"].get("addresses") or []
        if str(address.get("type", "")).startswith(REGIONAL_ADDRESS_TYPE)
    )
    if len(regions) < 2:
        raise TierConfigError(
            f"Gateway {_name(gateway)} names {len(regions)} regional address(es); a cross-region gateway "
            f"lists one `{REGIONAL_ADDRESS_TYPE}<region>` address per region"
        )
    pool = _exported_pool(items, _name(gateway))
    policies = [p for p in _of_kind(items, "GCPBackendPolicy") if _targets(p, pool)]
    default = (policies[0]["spec"].get("default") or {}) if policies else {}
    mode = BalancingMode(str(default.get("balancingMode", BalancingMode.RATE.value)))
    metric: UtilizationMetric | None = None
    max_utilization = 1.0
    dry_run = False
    if mode is BalancingMode.CUSTOM_METRICS:
        custom = (default.get("customMetrics") or [None])[0]
        if not custom or not str(custom.get("name", "")).startswith(NAMED_METRIC_PREFIX):
            raise TierConfigError(
                f"GCPBackendPolicy {_name(policies[0])}: balancingMode CUSTOM_METRICS needs customMetrics[0].name "
                f"`{NAMED_METRIC_PREFIX}<exportName>`"
            )
        metric = _metric(items, str(custom["name"]).removeprefix(NAMED_METRIC_PREFIX))
        max_utilization = float(custom.get("maxUtilizationPercent", 100)) / 100
        dry_run = bool(custom.get("dryRun", False))
    in_flight = default.get("maxInFlightRequestsPerEndpoint")
    if mode is BalancingMode.IN_FLIGHT:
        dry_run = bool(default.get("dryRun", False))
    if mode is BalancingMode.IN_FLIGHT and in_flight is None:
        raise TierConfigError(
            f"GCPBackendPolicy {_name(policies[0])}: balancingMode IN_FLIGHT needs maxInFlightRequestsPerEndpoint"
        )
    return TierConfig(
        gateway=_name(gateway),
        pool=pool,
        regions=regions,
        balancing_mode=mode,
        metric=metric,
        max_utilization=max_utilization,
        dry_run=dry_run,
        max_in_flight_per_endpoint=int(in_flight) if in_flight is not None else None,
        timeout_s=float(default.get("timeoutSec", DEFAULT_ROUTE_TIMEOUT_S)),
        health_check=_health_check(items, pool),
    )
