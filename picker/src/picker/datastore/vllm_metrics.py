"""Parses a vLLM ``/metrics`` page (Prometheus text) into EndpointMetrics.

Only the five families the picker uses are handed to prometheus_client's parser: lines are pre-filtered
with one C-level ``startswith`` each, which keeps a 50 ms scrape of a histogram-heavy page cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from picker.framework.types import EndpointMetrics

WAITING = "vllm:num_requests_waiting"
RUNNING = "vllm:num_requests_running"
KV_USAGE = "vllm:kv_cache_usage_perc"
KV_USAGE_LEGACY = "vllm:gpu_cache_usage_perc"
LORA_INFO = "vllm:lora_requests_info"
CACHE_CONFIG = "vllm:cache_config_info"

_WANTED = (WAITING, RUNNING, KV_USAGE, KV_USAGE_LEGACY, LORA_INFO, CACHE_CONFIG)
_WANTED_LINE_PREFIXES = _WANTED + tuple(f"# {kind} {name}" for kind in ("HELP", "TYPE") for name in _WANTED)


class MetricsParseError(ValueError):
    """The page is not Prometheus text format, or carries none of vLLM's load metrics."""


@dataclass(frozen=True, slots=True)
class _LoraSeries:
    timestamp: float
    running: frozenset[str]
    waiting: frozenset[str]
    max_lora: int

    def rank(self) -> tuple[bool, float]:
        """Series naming adapters beat empty ones; then the most recently updated wins."""
        return (bool(self.running or self.waiting), self.timestamp)


def _adapters(label: str) -> frozenset[str]:
    return frozenset(name.strip() for name in label.split(",") if name.strip())


def _positive_label(labels: dict[str, str], key: str) -> int | None:
    """A positive integer label (``cache_config_info``'s values are strings; ``"None"`` before profiling)."""
    raw = labels.get(key)
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else None


def parse_vllm_metrics(text: str, scraped_at_s: float) -> EndpointMetrics:
    """EndpointMetrics from a metrics page.

    Queue and running counts sum over series (one per engine or model name); KV usage takes the highest
    series (the conservative reading); ``vllm:kv_cache_usage_perc`` wins over ``vllm:gpu_cache_usage_perc``;
    for ``vllm:lora_requests_info`` the series with the largest value (its update time) and a non-empty
    adapter label wins, as in the EPP. ``vllm:cache_config_info`` gives the block size and the KV cache's
    block count (``block_size``, ``num_gpu_blocks``; None where a label is missing or not a positive integer).
    A load family that is missing while another is present reads as
    zero (older vLLM versions lack some of them).

    Raises:
        MetricsParseError: the text is not in Prometheus exposition format, or it has no sample of any load
            family (waiting, running, KV-cache usage). Such a page (an HTML error page, an empty body, a
            proxy's or another server's metrics) would otherwise read as an idle replica and attract traffic;
            as an error, the scraper marks the endpoint unreachable until it serves real metrics again.
    """
    relevant = "\n".join(line for line in text.splitlines() if line.startswith(_WANTED_LINE_PREFIXES))
    values: dict[str, float] = {}
    kv_by_name: dict[str, float] = {}
    latest_lora: _LoraSeries | None = None
    block_size: int | None = None
    num_gpu_blocks: int | None = None
    saw_load_sample = False
    try:
        for family in text_string_to_metric_families(relevant + "\n"):
            for sample in family.samples:
                name = sample.name
                if name in (WAITING, RUNNING):
                    saw_load_sample = True
                    values[name] = values.get(name, 0.0) + sample.value
                elif name in (KV_USAGE, KV_USAGE_LEGACY):
                    saw_load_sample = True
                    kv_by_name[name] = max(kv_by_name.get(name, 0.0), sample.value)
                elif name == LORA_INFO:
                    series = _LoraSeries(
                        timestamp=sample.value,
                        running=_adapters(sample.labels.get("running_lora_adapters", "")),
                        waiting=_adapters(sample.labels.get("waiting_lora_adapters", "")),
                        max_lora=int(float(sample.labels.get("max_lora", "0") or 0)),
                    )
                    if latest_lora is None or series.rank() > latest_lora.rank():
                        latest_lora = series
                elif name == CACHE_CONFIG:
                    block_size = _positive_label(sample.labels, "block_size") or block_size
                    num_gpu_blocks = _positive_label(sample.labels, "num_gpu_blocks") or num_gpu_blocks
    except (ValueError, TypeError, IndexError) as error:
        raise MetricsParseError(f"not Prometheus text format: {error}") from None
    if not saw_load_sample:
        # A TYPE/HELP line alone does not count: without a sample there is no load reading to trust.
        raise MetricsParseError(
            f"no vLLM load metrics ({WAITING}, {RUNNING}, {KV_USAGE} or {KV_USAGE_LEGACY}) on the page"
        )
    kv_ratio = kv_by_name.get(KV_USAGE, kv_by_name.get(KV_USAGE_LEGACY, 0.0))
    return EndpointMetrics(
        waiting_queue_size=int(values.get(WAITING, 0.0)),
        running_requests=int(values.get(RUNNING, 0.0)),
        kv_cache_usage_ratio=min(1.0, max(0.0, kv_ratio)),
        active_lora_adapters=latest_lora.running if latest_lora else frozenset(),
        waiting_lora_adapters=latest_lora.waiting if latest_lora else frozenset(),
        max_active_loras=latest_lora.max_lora if latest_lora else 0,
        cache_block_size_tokens=block_size,
        num_gpu_blocks=num_gpu_blocks,
        updated_at_s=scraped_at_s,
    )
