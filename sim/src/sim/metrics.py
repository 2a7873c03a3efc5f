"""vLLM's Prometheus metrics for one replica, in a registry of its own (vLLM V1 names, labels, buckets)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from sim.engine import (
    EngineConfig,
    EngineEvent,
    EngineStats,
    FinishReason,
    SequenceFinished,
    SequencePreempted,
    SequenceResumed,
    SequenceScheduled,
    TokenGenerated,
)

ENGINE_INDEX = "0"

# vLLM V1's bucket boundaries, so histogram quantiles line up with real servers'.
TTFT_BUCKETS_S = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
INTER_TOKEN_BUCKETS_S = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
REQUEST_LATENCY_BUCKETS_S = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)
TOKEN_COUNT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)


class _EngineStateCollector(Collector):
    """Scrape-time gauges read straight from the engine."""

    def __init__(
        self,
        stats: Callable[[], EngineStats],
        engine_config: EngineConfig,
        model_name: str,
        updated_at: Callable[[], float],
    ) -> None:
        self._stats = stats
        self._engine_config = engine_config
        self._model_name = model_name
        self._updated_at = updated_at

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        labels = ["engine", "model_name"]
        values = [ENGINE_INDEX, self._model_name]
        for name, documentation, value in (
            (
                "vllm:num_requests_running",
                "Number of requests in model execution batches.",
                stats.num_running,
            ),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", stats.num_waiting),
            ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", stats.kv_usage),
            (
                "vllm:gpu_cache_usage_perc",
                "GPU KV-cache usage (deprecated name of kv_cache_usage_perc).",
                stats.kv_usage,
            ),
        ):
            family = GaugeMetricFamily(name, documentation, labels=labels)
            family.add_metric(values, value)
            yield family
        # The EPP reads adapters from the labels and takes the series with the newest value (a timestamp).
        lora_info = GaugeMetricFamily(
            "vllm:lora_requests_info",
            "Running stats on lora requests.",
            labels=["max_lora", "running_lora_adapters", "waiting_lora_adapters"],
        )
        lora_info.add_metric(
            [
                str(self._engine_config.max_loras),
                ",".join(stats.running_lora_adapters),
                ",".join(stats.waiting_lora_adapters),
            ],
            self._updated_at(),
        )
        yield lora_info
        cache_info = GaugeMetricFamily(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            labels=[
                "block_size",
                "cache_dtype",
                "enable_prefix_caching",
                "engine",
                "num_gpu_blocks",
                "prefix_caching_hash_algo",
            ],
        )
        cache_info.add_metric(
            [
                str(self._engine_config.block_size),
                "auto",
                str(self._engine_config.enable_prefix_caching),
                ENGINE_INDEX,
                str(self._engine_config.num_gpu_blocks),
                "blake2b",
            ],
            1.0,
        )
        yield cache_info


class _PerTokenHistogram(Collector):
    """A histogram observed once per generated token, exported under one or more names.

    prometheus_client's Histogram takes a lock per bucket increment; at thousands of tokens a second per
    replica that was a measurable share of the simulator's CPU (bench.micro.sim.engine_speed), so
    this one keeps plain per-bucket counts (the event loop is the only writer and reader) and hands them
    to prometheus_client's HistogramMetricFamily for exposition. vLLM exports inter-token latency under
    its current and its pre-0.11 name; both names come from the same counts.
    """

    def __init__(
        self, names: list[tuple[str, str]], buckets: tuple[float, ...], labels: dict[str, str]
    ) -> None:
        self._names = names
        self._bounds = list(buckets)
        self._counts = [0] * (len(buckets) + 1)  # the last slot is +Inf
        self._sum = 0.0
        self._label_names = list(labels)
        self._label_values = list(labels.values())

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterator[Metric]:
        cumulative = list(itertools.accumulate(self._counts))
        buckets = [(str(bound), float(count)) for bound, count in zip(self._bounds, cumulative, strict=False)]
        buckets.append(("+Inf", float(cumulative[-1])))
        for name, documentation in self._names:
            family = HistogramMetricFamily(name, documentation, labels=self._label_names)
            family.add_metric(self._label_values, buckets, self._sum)
            yield family


class SimMetrics:
    """The replica's registry plus the event-fed recorder; ``render()`` is the /metrics body.

    Gauges (queue sizes, KV usage, adapters, cache config) are read from the engine at scrape time, as vLLM
    reports engine state; counters and histograms are fed by engine events as they happen, so scrapers
    built for vLLM (``vllm/v1/metrics/loggers.py``), such as the EPP, read them unchanged.
    """

    def __init__(
        self,
        model_name: str,
        engine_config: EngineConfig,
        stats: Callable[[], EngineStats],
        wall_clock: Callable[[], float],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._last_token_s: dict[str, float] = {}
        self._arrival_s: dict[str, float] = {}
        self._wall_clock = wall_clock
        # Unix time of the engine's last step with output, as vLLM stamps vllm:lora_requests_info.
        self._engine_updated_at = wall_clock()
        self.registry.register(
            _EngineStateCollector(stats, engine_config, model_name, lambda: self._engine_updated_at)
        )
        labels = ["engine", "model_name"]
        values = {"engine": ENGINE_INDEX, "model_name": model_name}

        def counter(name: str, documentation: str) -> Counter:
            return Counter(name, documentation, labels, registry=self.registry)

        def histogram(name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

        self._prompt_tokens = counter("vllm:prompt_tokens", "Number of prefill tokens processed.").labels(
            **values
        )
        self._generation_tokens = counter(
            "vllm:generation_tokens", "Number of generation tokens processed."
        ).labels(**values)
        self._prefix_queries = counter(
            "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens."
        ).labels(**values)
        self._prefix_hits = counter(
            "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens."
        ).labels(**values)
        self._preemptions = counter(
            "vllm:num_preemptions", "Cumulative number of preemption from the engine."
        ).labels(**values)
        # Not a vLLM metric: the simulator's count of KV tokens computed twice because of preemption.
        self._recomputed_tokens = counter(
            "sim:recomputed_tokens",
            "Simulator only: KV tokens recomputed after a preemption (lost and not kept by the prefix cache).",
        ).labels(**values)
        self._success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            ["engine", "finished_reason", "model_name"],
            registry=self.registry,
        )
        # Every finish reason's series exists from the start (at 0), as vLLM creates them up front.
        self._success_by_reason = {
            reason: self._success.labels(finished_reason=reason.value, **values) for reason in FinishReason
        }
        self._ttft = histogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS_S
        ).labels(**values)
        self._inter_token = _PerTokenHistogram(
            [
                ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds."),
                (
                    "vllm:time_per_output_token_seconds",
                    "Histogram of time per output token in seconds (older name of inter_token_latency).",
                ),
            ],
            INTER_TOKEN_BUCKETS_S,
            values,
        )
        self.registry.register(self._inter_token)
        self._e2e = histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            REQUEST_LATENCY_BUCKETS_S,
        ).labels(**values)
        self._queue_time = histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            REQUEST_LATENCY_BUCKETS_S,
        ).labels(**values)
        self._request_prompt_tokens = histogram(
            "vllm:request_prompt_tokens", "Number of prefill tokens processed.", TOKEN_COUNT_BUCKETS
        ).labels(**values)
        self._request_generation_tokens = histogram(
            "vllm:request_generation_tokens", "Number of generation tokens processed.", TOKEN_COUNT_BUCKETS
        ).labels(**values)

    def observe(self, events: Iterable[EngineEvent]) -> None:
        observed = False
        generated = 0
        for event in events:
            observed = True
            if isinstance(event, TokenGenerated):
                generated += 1
                previous_s = self._last_token_s.get(event.request_id)
                if event.num_output_tokens == 1 and event.request_id in self._arrival_s:
                    self._ttft.observe(event.time_s - self._arrival_s[event.request_id])
                elif previous_s is not None:
                    self._inter_token.observe(event.time_s - previous_s)
                self._last_token_s[event.request_id] = event.time_s
            elif isinstance(event, SequenceScheduled):
                self._arrival_s[event.request_id] = event.time_s - event.queue_time_s
                self._prompt_tokens.inc(event.num_prompt_tokens)
                self._prefix_queries.inc(event.num_prompt_tokens)
                self._prefix_hits.inc(event.num_cached_tokens)
                self._queue_time.observe(event.queue_time_s)
                self._request_prompt_tokens.observe(event.num_prompt_tokens)
            elif isinstance(event, SequencePreempted):
                self._preemptions.inc()
            elif isinstance(event, SequenceResumed):
                self._recomputed_tokens.inc(event.num_recomputed_tokens)
            elif isinstance(event, SequenceFinished):
                self._last_token_s.pop(event.request_id, None)
                self._arrival_s.pop(event.request_id, None)
                self._success_by_reason[event.finish_reason].inc()
                self._e2e.observe(event.time_s - event.arrival_s)
                self._request_generation_tokens.observe(event.num_output_tokens)
        if generated:
            self._generation_tokens.inc(generated)
        if observed:
            self._engine_updated_at = self._wall_clock()

    def render(self) -> bytes:
        return generate_latest(self.registry)
