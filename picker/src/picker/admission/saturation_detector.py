"""Saturation detector: does any candidate still have capacity? (EPP semantics, inference-extension.md 5.1)

A candidate has capacity when its metrics exist and are fresh, its waiting queue is at most the queue
threshold and its KV usage at most the KV threshold. The candidate set is saturated when none has capacity.
"""

from __future__ import annotations

from collections.abc import Sequence

from picker.config.model import SaturationDetectorConfig
from picker.framework.clock import Clock
from picker.framework.types import EndpointState


class SaturationDetector:
    """Stale or missing metrics count as no capacity, so a blind picker sheds instead of piling on."""

    def __init__(self, config: SaturationDetectorConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock

    def has_capacity(self, state: EndpointState, now_s: float | None = None) -> bool:
        metrics = state.metrics
        if metrics is None:
            return False
        now_s = self._clock.now() if now_s is None else now_s
        return (
            now_s - metrics.updated_at_s <= self.config.metrics_staleness_threshold
            and metrics.waiting_queue_size <= self.config.queue_depth_threshold
            and metrics.kv_cache_usage_ratio <= self.config.kv_cache_util_threshold
        )

    def is_saturated(self, candidates: Sequence[EndpointState]) -> bool:
        now_s = self._clock.now()
        return not any(self.has_capacity(state, now_s) for state in candidates)
