from __future__ import annotations

import pytest

from infgw.local.regions.tier_config import BalancingMode, TierConfig, UtilizationMetric
from infgw.local.regions.utilization import DelayedReports, EndpointReading, read_endpoint, region_utilization

METRICS = """# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 0.25
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 3
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 2
"""


def _tier(mode: BalancingMode, **fields: object) -> TierConfig:
    return TierConfig(
        gateway="g", pool="p", regions=("a", "b"), balancing_mode=mode, max_utilization=0.6, **fields
    )


def test_a_metrics_page_gives_the_gauge_and_in_flight_requests() -> None:
    assert read_endpoint(METRICS, "vllm:kv_cache_usage_perc") == EndpointReading(gauge=0.25, in_flight=5)


def test_custom_metrics_average_the_endpoints_that_answered() -> None:
    tier = _tier(BalancingMode.CUSTOM_METRICS, metric=UtilizationMetric(export_name="kv", source_name="x"))
    readings = [EndpointReading(0.2, 0), EndpointReading(0.6, 0), None]
    assert region_utilization(tier, readings) == pytest.approx(0.4)
    assert region_utilization(tier, [None, None]) is None


def test_in_flight_is_requests_over_the_endpoints_capacity() -> None:
    tier = _tier(BalancingMode.IN_FLIGHT, max_in_flight_per_endpoint=4)
    assert region_utilization(tier, [EndpointReading(0, 3), EndpointReading(0, 5)]) == pytest.approx(1.0)


def test_a_report_becomes_visible_after_the_delay() -> None:
    reports = DelayedReports(["a"], delay_s=2.0)
    reports.record("a", 10.0, 0.1)
    reports.record("a", 11.0, 0.5)
    assert reports.reported("a", 11.5) is None
    assert reports.reported("a", 12.0) == 0.1
    assert reports.reported("a", 13.2) == 0.5
