"""The supervisor's /metrics: workers' counters and histograms add up, in-flight gauges add up, views of
the pool are reported once (the largest), creation times the earliest."""

from __future__ import annotations

from picker.metrics import PickerMetrics
from picker.workers.merged_metrics import WorkerMetricsCollector, merge_metrics_texts
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def _exposition(metrics: PickerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_two_workers_merge_into_one_pickers_view() -> None:
    first, second = PickerMetrics("pool"), PickerMetrics("pool")
    first.request_total.labels("m", "m", "f", "0").inc(2)
    second.request_total.labels("m", "m", "f", "0").inc(3)
    first.request_duration.labels("m", "m", "f", "0").observe(0.01)
    second.request_duration.labels("m", "m", "f", "0").observe(7.0)
    first.running_requests.labels("m", "m", "f", "0").set(1)
    second.running_requests.labels("m", "m", "f", "0").set(4)
    first.pool_ready_pods.labels("pool").set(3)
    second.pool_ready_pods.labels("pool").set(2)  # a worker a scrape behind

    collector = WorkerMetricsCollector()
    collector.update([_exposition(first), _exposition(second)])
    registry = CollectorRegistry()
    registry.register(collector)
    merged = _values(generate_latest(registry).decode())

    model = (("model_name", "m"), ("target_model_name", "m"))
    assert merged[("inference_objective_request_total", model)] == 5
    assert merged[("inference_objective_request_duration_seconds_count", model)] == 2
    assert merged[("inference_objective_request_duration_seconds_sum", model)] == 7.01
    assert merged[("inference_objective_request_duration_seconds_bucket", (("le", "0.005"), *model))] == 0
    assert merged[("inference_objective_request_duration_seconds_bucket", (("le", "0.025"), *model))] == 1
    assert merged[("inference_objective_request_duration_seconds_bucket", (("le", "+Inf"), *model))] == 2
    assert merged[("inference_objective_running_requests", (("model_name", "m"),))] == 5
    request = (("fairness_id", "f"), ("model_name", "m"), ("priority", "0"), ("target_model_name", "m"))
    assert merged[("llm_d_epp_request_total", request)] == 5
    assert merged[("llm_d_epp_request_running", request)] == 5
    assert merged[("inference_pool_ready_pods", (("name", "pool"),))] == 3
    created = [key for key in merged if key[0] == "inference_objective_request_created"]
    assert merged[created[0]] == min(
        _values(_exposition(first))[created[0]], _values(_exposition(second))[created[0]]
    )


def test_one_worker_passes_through_unchanged() -> None:
    only = PickerMetrics("pool")
    only.request_total.labels("m", "m", "f", "0").inc(4)
    text = _exposition(only)
    merged = merge_metrics_texts([text])
    assert {(s.name, tuple(sorted(s.labels.items()))): s.value for f in merged for s in f.samples} == _values(
        text
    )
