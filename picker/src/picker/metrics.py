"""The picker's Prometheus metrics, named as the EPP names them (inference-extension.md 6.2), in a registry
the instance owns. The server exposes ``registry``; the director, scheduler and plugins record into it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from picker import __version__
from picker.fast_metrics import DualNameMetric
from picker.fast_metrics import FastCounter as _Counter
from picker.fast_metrics import FastGauge as _Gauge
from picker.fast_metrics import FastHistogram as _Histogram
from picker.framework.types import EndpointState

# Bucket edges as the EPP declares them.
_DURATION_BUCKETS = (
    0.005,
    0.025,
    0.05,
    0.1,
    0.2,
    0.4,
    0.6,
    0.8,
    1.0,
    1.25,
    1.5,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    15,
    20,
    30,
    45,
    60,
    120,
    180,
    240,
    300,
    360,
    480,
    600,
    900,
    1200,
    1800,
    2700,
    3600,
)
_SIZE_BUCKETS = tuple(float(2**power) for power in range(6, 31, 2))  # 64 B .. 1 GiB
_RESPONSE_SIZE_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536)
_INPUT_TOKEN_BUCKETS = tuple(float(2**power) for power in range(0, 21))  # 1 .. 1,048,576
_OUTPUT_TOKEN_BUCKETS = tuple(float(2**power) for power in range(0, 14))  # 1 .. 8192
_SCHEDULER_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
_HIT_RATIO_BUCKETS = tuple(round(step / 10, 1) for step in range(11))
_HIT_BYTES_BUCKETS = (0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
_QUEUE_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120)


class PickerMetrics:
    """All metric objects, bound to ``self.registry``. Label values stay low-cardinality (no request ids)."""

    def __init__(
        self,
        pool_name: str,
        registry: CollectorRegistry | None = None,
        commit: str = "unknown",
        build_ref: str = __version__,
    ) -> None:
        self.pool_name = pool_name
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        # llm-d-router v0.10 names (llm_d_epp_*, with fairness_id and priority on request families) and the
        # GIE v1.1 names (inference_objective_* / inference_pool_* / inference_extension_*), written together.
        request = ("model_name", "target_model_name", "fairness_id", "priority")
        objective = ("model_name", "target_model_name")
        r = self.registry

        def twin(
            metric_class: type,
            current: str,
            legacy: str,
            documentation: str,
            labels: tuple[str, ...] = (),
            legacy_labels: tuple[str, ...] | None = None,
            **kwargs: Any,
        ) -> DualNameMetric:
            return DualNameMetric(
                metric_class,
                current,
                legacy,
                documentation,
                labels,
                legacy_labelnames=legacy_labels,
                registry=r,
                **kwargs,
            )

        self.request_total = twin(
            _Counter,
            "llm_d_epp_request_total",
            "inference_objective_request_total",
            "Requests per model.",
            request,
            objective,
        )
        self.request_error_total = twin(
            _Counter,
            "llm_d_epp_request_error_total",
            "inference_objective_request_error_total",
            "Failed requests per model and error code.",
            (*request, "error_code"),
            (*objective, "error_code"),
        )
        self.request_duration = twin(
            _Histogram,
            "llm_d_epp_request_duration_seconds",
            "inference_objective_request_duration_seconds",
            "Request headers to response complete.",
            request,
            objective,
            buckets=_DURATION_BUCKETS,
        )
        self.request_sizes = twin(
            _Histogram,
            "llm_d_epp_request_size_bytes",
            "inference_objective_request_sizes",
            "Request body size in bytes.",
            request,
            objective,
            buckets=_SIZE_BUCKETS,
        )
        self.response_sizes = twin(
            _Histogram,
            "llm_d_epp_response_size_bytes",
            "inference_objective_response_sizes",
            "Response body size in bytes.",
            request,
            objective,
            buckets=_RESPONSE_SIZE_BUCKETS,
        )
        self.input_tokens = twin(
            _Histogram,
            "llm_d_epp_request_input_tokens",
            "inference_objective_input_tokens",
            "usage.prompt_tokens per request.",
            request,
            objective,
            buckets=_INPUT_TOKEN_BUCKETS,
        )
        self.output_tokens = twin(
            _Histogram,
            "llm_d_epp_request_output_tokens",
            "inference_objective_output_tokens",
            "usage.completion_tokens per request.",
            request,
            objective,
            buckets=_OUTPUT_TOKEN_BUCKETS,
        )
        self.normalized_time_per_output_token = twin(
            _Histogram,
            "llm_d_epp_request_ntpot_seconds",
            "inference_objective_normalized_time_per_output_token_seconds",
            "Request duration divided by output tokens.",
            request,
            objective,
            buckets=(*_SCHEDULER_BUCKETS, 0.2, 0.5, 1.0),
        )
        self.running_requests = twin(
            _Gauge,
            "llm_d_epp_request_running",
            "inference_objective_running_requests",
            "Requests in flight through the picker.",
            request,
            ("model_name",),
        )
        self.pool_average_kv_cache = twin(
            _Gauge,
            "llm_d_epp_average_kv_cache_utilization",
            "inference_pool_average_kv_cache_utilization",
            "Mean KV-cache usage over endpoints with fresh metrics.",
            ("name",),
        )
        self.pool_average_queue_size = twin(
            _Gauge,
            "llm_d_epp_average_queue_size",
            "inference_pool_average_queue_size",
            "Mean waiting queue over endpoints with fresh metrics.",
            ("name",),
        )
        self.pool_ready_pods = twin(
            _Gauge,
            "llm_d_epp_ready_endpoints",
            "inference_pool_ready_pods",
            "Endpoints in the candidate set.",
            ("name",),
        )
        self.pool_per_pod_queue_size = DualNameMetric(
            _Gauge,
            "llm_d_epp_per_endpoint_queue_size",
            "inference_pool_per_pod_queue_size",
            "Waiting queue per endpoint.",
            ("name", "model_server_endpoint"),
            legacy_labelnames=("name", "model_server_pod"),
            renamed={"model_server_pod": "model_server_endpoint"},
            registry=r,
        )
        self.scheduler_e2e_duration = twin(
            _Histogram,
            "llm_d_epp_scheduler_e2e_duration_seconds",
            "inference_extension_scheduler_e2e_duration_seconds",
            "One scheduling decision.",
            buckets=_SCHEDULER_BUCKETS,
        )
        self.plugin_duration = twin(
            _Histogram,
            "llm_d_epp_plugin_duration_seconds",
            "inference_extension_plugin_duration_seconds",
            "One plugin call.",
            ("extension_point", "plugin_type", "plugin_name"),
            buckets=_SCHEDULER_BUCKETS,
        )
        self.prefix_indexer_size = _Gauge(
            "inference_extension_prefix_indexer_size", "Entries in the prefix indexes.", registry=r
        )
        self.prefix_indexer_hit_ratio = _Histogram(
            "inference_extension_prefix_indexer_hit_ratio",
            "Matched share of a request's prefix blocks.",
            buckets=_HIT_RATIO_BUCKETS,
            registry=r,
        )
        self.prefix_indexer_hit_bytes = _Histogram(
            "inference_extension_prefix_indexer_hit_bytes",
            "Matched prefix length in bytes.",
            buckets=_HIT_BYTES_BUCKETS,
            registry=r,
        )
        self.kv_events = _Counter(
            "inference_extension_kv_events_total",
            "KV-cache events applied to the precise prefix index, by event type.",
            ("event_type",),
            registry=r,
        )
        self.kv_event_errors = _Counter(
            "inference_extension_kv_event_errors_total",
            "KV-event problems by cause (malformed, unknown_event_type, wrong_topic, publisher_gone, "
            "sequence_gap, sequence_reset, unknown_parent, unknown_endpoint, replay_failed, ...).",
            ("cause",),
            registry=r,
        )
        self.shared_placements = _Counter(
            "inference_extension_shared_placements_total",
            "Placements shared with sibling deciders (workers, peer replicas), by direction (sent: published; "
            "received: a sibling's, applied here).",
            ("direction",),
            registry=r,
        )
        self.shared_placement_errors = _Counter(
            "inference_extension_shared_placement_errors_total",
            "Placements not shared, by cause (peer_busy, peer_unreachable, send_failed, queue_full: not sent "
            "to a sibling; malformed, oversized, unsupported_version, unknown_plugin: a datagram refused).",
            ("cause",),
            registry=r,
        )
        self.sibling_deciders = _Gauge(
            "inference_extension_sibling_deciders",
            "Sibling deciders (workers, peer replicas) heard from within the in-flight TTL (2 s): their "
            "in-flight counts are added to this process's.",
            registry=r,
        )
        self.kv_event_fallback_endpoints = _Gauge(
            "inference_extension_kv_events_fallback_endpoints",
            "Endpoints the precise prefix scorer scores approximately (no KV events from them).",
            registry=r,
        )
        self.info = twin(
            _Gauge,
            "llm_d_epp_info",
            "inference_extension_info",
            "Build information.",
            ("commit", "build_ref"),
        )
        self.info.labels(commit, build_ref).set(1)
        self.flow_queue_duration = _Histogram(
            "inference_extension_flow_control_request_queue_duration_seconds",
            "Time a request spent in the flow control queue, by outcome.",
            ("fairness_id", "priority", "outcome"),
            buckets=_QUEUE_DURATION_BUCKETS,
            registry=r,
        )
        self.flow_queue_size = _Gauge(
            "inference_extension_flow_control_queue_size",
            "Requests waiting in flow control.",
            ("fairness_id", "priority"),
            registry=r,
        )
        self._queue_size_keys: set[tuple[str, int]] = set()
        self._per_pod_keys: set[str] = set()

    # -- plugin and scheduler hooks ---------------------------------------------------------------
    def observe_plugin(
        self, extension_point: str, plugin_type: str, plugin_name: str, seconds: float
    ) -> None:
        self.plugin_duration.labels(extension_point, plugin_type, plugin_name).observe(seconds)

    def record_prefix_match(self, matched_bytes: int, total_bytes: int) -> None:
        if total_bytes > 0:
            self.prefix_indexer_hit_ratio.observe(matched_bytes / total_bytes)
            self.prefix_indexer_hit_bytes.observe(matched_bytes)

    def record_kv_events(self, event_type: str, count: int) -> None:
        self.kv_events.labels(event_type).inc(count)

    def record_kv_event_error(self, cause: str) -> None:
        self.kv_event_errors.labels(cause).inc()

    def set_kv_event_fallback_endpoints(self, count: int) -> None:
        self.kv_event_fallback_endpoints.set(count)

    def record_shared_placements(self, direction: str, count: int) -> None:
        if count:
            self.shared_placements.labels(direction).inc(count)

    def record_shared_placement_error(self, cause: str, count: int) -> None:
        self.shared_placement_errors.labels(cause).inc(count)

    def set_sibling_deciders(self, count: int) -> None:
        self.sibling_deciders.set(count)

    # -- flow control hooks -----------------------------------------------------------------------
    def record_flow_outcome(self, fairness_id: str, priority: int, outcome: str, waited_s: float) -> None:
        self.flow_queue_duration.labels(fairness_id, str(priority), outcome).observe(waited_s)

    def set_flow_queue_sizes(self, sizes: dict[tuple[str, int], int]) -> None:
        for key in self._queue_size_keys - sizes.keys():
            self.flow_queue_size.labels(key[0], str(key[1])).set(0)
        for (fairness_id, priority), size in sizes.items():
            self.flow_queue_size.labels(fairness_id, str(priority)).set(size)
        self._queue_size_keys |= sizes.keys()

    # -- pool gauges ------------------------------------------------------------------------------
    def flush_pool_gauges(
        self, candidates: Sequence[EndpointState], now_s: float, staleness_s: float
    ) -> None:
        """The EPP's periodic pool gauges: averages over endpoints whose metrics are fresh."""
        fresh = [
            s for s in candidates if s.metrics is not None and now_s - s.metrics.updated_at_s <= staleness_s
        ]
        name = self.pool_name
        self.pool_ready_pods.labels(name).set(len(candidates))
        if fresh:
            self.pool_average_kv_cache.labels(name).set(
                sum(s.metrics.kv_cache_usage_ratio for s in fresh if s.metrics) / len(fresh)
            )
            self.pool_average_queue_size.labels(name).set(
                sum(s.metrics.waiting_queue_size for s in fresh if s.metrics) / len(fresh)
            )
        current = {state.endpoint.name for state in fresh}
        for departed in self._per_pod_keys - current:
            self.pool_per_pod_queue_size.remove(name, departed)
        for state in fresh:
            if state.metrics is not None:
                self.pool_per_pod_queue_size.labels(name, state.endpoint.name).set(
                    state.metrics.waiting_queue_size
                )
        self._per_pod_keys = current
