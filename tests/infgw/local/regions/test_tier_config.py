"""The tier's configuration comes from the rendered objects: change them and the tier changes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infgw.local.regions.tier_config import BalancingMode, TierConfigError, tier_config
from infgw.local.rendered_stack import read_objects


@pytest.fixture(scope="module")
def config_cluster(dev_manifests: tuple[Path, list[str]]) -> list[dict[str, Any]]:
    return [dict(obj) for obj in read_objects(dev_manifests[0] / "gke-west")]


def _edit(objects: list[dict[str, Any]], kind: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    edited = copy.deepcopy(objects)
    return edited, next(obj for obj in edited if obj["kind"] == kind)


def test_the_dev_stack_renders_custom_metrics_on_kv_cache_at_60_percent(
    config_cluster: list[dict[str, Any]],
) -> None:
    tier = tier_config(config_cluster)
    assert tier.regions == ("europe-west3", "us-east4")
    assert tier.pool == "vllm-llama3-8b-instruct"
    assert tier.balancing_mode is BalancingMode.CUSTOM_METRICS
    assert tier.metric is not None
    assert (tier.metric.export_name, tier.metric.source_name, tier.metric.path) == (
        "kv-cache",
        "vllm:kv_cache_usage_perc",
        "/metrics",
    )
    assert tier.max_utilization == pytest.approx(0.6)
    assert tier.timeout_s == 100
    assert (tier.health_check.path, tier.health_check.port, tier.health_check.interval_s) == (
        "/health",
        8000,
        5,
    )


def test_a_changed_backend_policy_changes_the_target_and_mode(config_cluster: list[dict[str, Any]]) -> None:
    edited, policy = _edit(config_cluster, "GCPBackendPolicy")
    policy["spec"]["default"]["customMetrics"][0]["maxUtilizationPercent"] = 80
    policy["spec"]["default"]["timeoutSec"] = 42
    assert tier_config(edited).max_utilization == pytest.approx(0.8)
    assert tier_config(edited).timeout_s == 42

    default = policy["spec"]["default"]
    del default["customMetrics"]
    default.update(balancingMode="IN_FLIGHT", maxInFlightRequestsPerEndpoint=4)
    tier = tier_config(edited)
    assert tier.balancing_mode is BalancingMode.IN_FLIGHT
    assert (tier.max_in_flight_per_endpoint, tier.max_utilization, tier.metric) == (4, 1.0, None)


def test_a_changed_health_check_policy_changes_the_checks(config_cluster: list[dict[str, Any]]) -> None:
    edited, policy = _edit(config_cluster, "HealthCheckPolicy")
    policy["spec"]["default"].update(checkIntervalSec=2, unhealthyThreshold=3)
    policy["spec"]["default"]["config"]["httpHealthCheck"]["requestPath"] = "/ready"
    check = tier_config(edited).health_check
    assert (check.interval_s, check.unhealthy_threshold, check.path) == (2, 3, "/ready")


def test_a_metric_no_autoscaling_metric_exports_is_named(config_cluster: list[dict[str, Any]]) -> None:
    edited, policy = _edit(config_cluster, "GCPBackendPolicy")
    policy["spec"]["default"]["customMetrics"][0]["name"] = "gke.named_metrics.queue"
    with pytest.raises(TierConfigError, match=r"no AutoscalingMetric exports.*'queue'"):
        tier_config(edited)


def test_a_gateway_with_one_region_is_not_a_cross_region_tier(config_cluster: list[dict[str, Any]]) -> None:
    edited, gateway = _edit(config_cluster, "Gateway")
    gateway["spec"]["addresses"] = gateway["spec"]["addresses"][:1]
    with pytest.raises(TierConfigError, match="1 regional address"):
        tier_config(edited)


def test_in_flight_without_a_capacity_is_named(config_cluster: list[dict[str, Any]]) -> None:
    edited, policy = _edit(config_cluster, "GCPBackendPolicy")
    policy["spec"]["default"] = {"balancingMode": "IN_FLIGHT"}
    with pytest.raises(TierConfigError, match="maxInFlightRequestsPerEndpoint"):
        tier_config(edited)
