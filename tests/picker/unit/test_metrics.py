from __future__ import annotations

import math

import pytest
from picker.framework.types import Endpoint, EndpointMetrics, EndpointState
from picker.metrics import PickerMetrics
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

from picker import __version__ as picker_version

# inference-extension.md section 6.2 (EPP v1.1) plus the flow-control metrics of section 5.3.
EPP_METRIC_NAMES = {
    "inference_objective_request_total",
    "inference_objective_request_error_total",
    "inference_objective_request_duration_seconds",
    "inference_objective_request_sizes",
    "inference_objective_response_sizes",
    "inference_objective_input_tokens",
    "inference_objective_output_tokens",
    "inference_objective_running_requests",
    "inference_objective_normalized_time_per_output_token_seconds",
    "inference_pool_average_kv_cache_utilization",
    "inference_pool_average_queue_size",
    "inference_pool_ready_pods",
    "inference_pool_per_pod_queue_size",
    "inference_extension_scheduler_e2e_duration_seconds",
    "inference_extension_plugin_duration_seconds",
    "inference_extension_prefix_indexer_size",
    "inference_extension_prefix_indexer_hit_ratio",
    "inference_extension_prefix_indexer_hit_bytes",
    "inference_extension_info",
    "inference_extension_flow_control_request_queue_duration_seconds",
    "inference_extension_flow_control_queue_size",
}


def test_every_epp_metric_is_registered() -> None:
    # prometheus_client names a counter's family without its "_total" suffix.
    names = {family.name for family in PickerMetrics("pool").registry.collect()}
    assert {name for name in EPP_METRIC_NAMES if name.removesuffix("_total") not in names} == set()


def test_each_instance_owns_its_registry() -> None:
    first, second = PickerMetrics("a"), PickerMetrics("b")
    first.request_total.labels("m", "m", "default-flow", "0").inc()
    assert (
        second.registry.get_sample_value(
            "inference_objective_request_total", {"model_name": "m", "target_model_name": "m"}
        )
        is None
    )
    assert b"inference_objective" not in generate_latest(REGISTRY)


def test_queue_size_gauge_drops_to_zero_for_drained_flows() -> None:
    metrics = PickerMetrics("pool")
    metrics.set_flow_queue_sizes({("tenant-a", 0): 3, ("tenant-b", 1): 1})
    metrics.set_flow_queue_sizes({("tenant-b", 1): 2})
    read = metrics.registry.get_sample_value
    assert (
        read("inference_extension_flow_control_queue_size", {"fairness_id": "tenant-a", "priority": "0"}) == 0
    )
    assert (
        read("inference_extension_flow_control_queue_size", {"fairness_id": "tenant-b", "priority": "1"}) == 2
    )


def test_pool_gauges_skip_stale_endpoints_and_forget_departed_ones() -> None:
    metrics = PickerMetrics("pool")
    fresh = EndpointState(
        Endpoint("a", "10.0.0.1", 8000), EndpointMetrics(waiting_queue_size=4, updated_at_s=10.0)
    )
    stale = EndpointState(
        Endpoint("b", "10.0.0.2", 8000), EndpointMetrics(waiting_queue_size=40, updated_at_s=1.0)
    )
    metrics.flush_pool_gauges([fresh, stale], now_s=10.5, staleness_s=2.0)
    read = metrics.registry.get_sample_value
    assert read("inference_pool_average_queue_size", {"name": "pool"}) == 4
    assert read("inference_pool_ready_pods", {"name": "pool"}) == 2
    metrics.flush_pool_gauges([], now_s=11.0, staleness_s=2.0)
    assert read("inference_pool_per_pod_queue_size", {"name": "pool", "model_server_pod": "a"}) is None


def _bucket_samples(registry: CollectorRegistry, name: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name.removeprefix(name), sample.labels, sample.value)
        for family in registry.collect()
        if family.name == name
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


def test_histogram_buckets_match_prometheus_client_for_boundaries_and_odd_values() -> None:
    metrics = PickerMetrics("pool")
    stock_registry = CollectorRegistry()
    stock = Histogram(
        "inference_objective_request_duration_seconds",
        "reference",
        ("model_name", "target_model_name"),
        buckets=metrics.request_duration.legacy._upper_bounds[:-1],
        registry=stock_registry,
    )
    values = [0.0, 0.005, 0.0050001, 1.0, 1.25, 3600.0, 3600.5, -1.0, float("inf"), float("nan"), 17.0]
    for value in values:
        metrics.request_duration.labels("m", "t", "f", "0").observe(value)
        stock.labels("m", "t").observe(value)
    ours = _bucket_samples(metrics.registry, "inference_objective_request_duration_seconds")
    reference = _bucket_samples(stock_registry, "inference_objective_request_duration_seconds")
    assert [(n, lbl) for n, lbl, _ in ours] == [(n, lbl) for n, lbl, _ in reference]
    for (_, _, got), (_, _, expected) in zip(ours, reference, strict=True):
        assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_labelled_children_are_reused_and_removal_is_seen() -> None:
    metrics = PickerMetrics("pool")
    child = metrics.pool_per_pod_queue_size.labels("pool", "a")
    assert metrics.pool_per_pod_queue_size.labels("pool", "a") is child
    child.set(3)
    metrics.pool_per_pod_queue_size.remove("pool", "a")
    fresh = metrics.pool_per_pod_queue_size.labels("pool", "a")
    assert fresh is not child
    read = metrics.registry.get_sample_value
    assert read("inference_pool_per_pod_queue_size", {"name": "pool", "model_server_pod": "a"}) == 0


def test_labels_keep_prometheus_client_errors() -> None:
    metrics = PickerMetrics("pool")
    with pytest.raises(ValueError, match="Incorrect label count"):
        metrics.request_total.labels("only-one")
    with pytest.raises(ValueError, match="No label names"):
        metrics.scheduler_e2e_duration.labels("x")
    with pytest.raises(ValueError, match="missing label values"):
        metrics.request_sizes.observe(1.0)  # a labelled parent is not observable
    metrics.request_total.labels(model_name="m", target_model_name="t", fairness_id="f", priority="0").inc()
    assert (
        metrics.registry.get_sample_value(
            "inference_objective_request_total", {"model_name": "m", "target_model_name": "t"}
        )
        == 1
    )


def test_request_families_are_written_under_both_generations_names_with_their_labels() -> None:
    metrics = PickerMetrics("pool")
    metrics.request_total.labels("m", "t", "tenant", "5").inc()
    metrics.running_requests.labels("m", "t", "tenant", "5").inc()
    metrics.running_requests.labels("m", "t", "other", "0").inc()
    metrics.pool_per_pod_queue_size.labels("pool", "e1").set(3)
    read = metrics.registry.get_sample_value
    v010 = {"model_name": "m", "target_model_name": "t", "fairness_id": "tenant", "priority": "5"}
    assert read("llm_d_epp_request_total", v010) == 1
    assert read("inference_objective_request_total", {"model_name": "m", "target_model_name": "t"}) == 1
    assert read("inference_objective_running_requests", {"model_name": "m"}) == 2  # v1.1: per model only
    assert read("llm_d_epp_per_endpoint_queue_size", {"name": "pool", "model_server_endpoint": "e1"}) == 3
    assert read("inference_pool_per_pod_queue_size", {"name": "pool", "model_server_pod": "e1"}) == 3
    assert read("llm_d_epp_info", {"commit": "unknown", "build_ref": picker_version}) == 1
    assert read("inference_extension_info", {"commit": "unknown", "build_ref": picker_version}) == 1
