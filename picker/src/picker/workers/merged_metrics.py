"""The picker's /metrics across worker processes: the supervisor scrapes each worker's own registry and
exposes one merged view, as a single picker would report it.

Why scrape-and-merge rather than prometheus-client's multiprocess mode: the hot path records into
in-process values without locks (picker.fast_metrics); multiprocess mode writes every observation to an
mmap'ed file under a lock, a cost on each request, and cannot express "the same pool view in every
worker" for gauges. A merge costs the supervisor one local HTTP request per worker per scrape instead.

Rules, per sample (same name and labels):
- counters, histograms and summaries add up: each worker counted its own requests;
- gauges of work in flight (``SUMMED_GAUGES``) add up;
- every other gauge is a view every worker holds of the same pool (pool averages, ready pods, build
  info, index sizes), so the largest value is reported;
- ``*_created`` timestamps: the earliest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

SUMMED_GAUGES = frozenset(
    {
        "llm_d_epp_request_running",
        "inference_objective_running_requests",
        "inference_extension_flow_control_queue_size",
    }
)


def _combine(family: Metric, sample_name: str) -> str:
    if sample_name.endswith("_created") or family.name.endswith("_created"):
        return "min"
    if family.type == "gauge" and family.name not in SUMMED_GAUGES:
        return "max"
    return "sum"


def merge_metrics_texts(texts: Sequence[str]) -> list[Metric]:
    """Prometheus text expositions (one per worker) -> the merged families, in first-seen order."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            samples = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                previous = samples.get(key)
                if previous is None:
                    samples[key] = sample.value
                    continue
                rule = _combine(merged, sample.name)
                samples[key] = (
                    previous + sample.value
                    if rule == "sum"
                    else min(previous, sample.value)
                    if rule == "min"
                    else max(previous, sample.value)
                )
    for name, merged in families.items():
        for (sample_name, labels), value in values[name].items():
            merged.add_sample(sample_name, dict(labels), value)
    return list(families.values())


class WorkerMetricsCollector(Collector):
    """Holds the latest merge; the supervisor replaces it before each scrape renders."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def update(self, texts: Sequence[str]) -> None:
        self.families = merge_metrics_texts(texts)

    def collect(self) -> Iterator[Metric]:
        yield from self.families
