"""``kv-cache-utilization-scorer``: prefers endpoints with free KV cache (EPP semantics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest

KV_CACHE_UTILIZATION_SCORER_TYPE = "kv-cache-utilization-scorer"


class KvCacheUtilizationScorer:
    """score = 1 - kv_cache_usage_ratio."""

    plugin_type = KV_CACHE_UTILIZATION_SCORER_TYPE

    def __init__(self, name: str = KV_CACHE_UTILIZATION_SCORER_TYPE) -> None:
        self.name = name

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        # Inlined metrics_of (no metrics = idle, usage 0): this runs over every candidate on every request.
        return [1.0 if (m := state.metrics) is None else 1.0 - m.kv_cache_usage_ratio for state in endpoints]


def create_kv_cache_utilization_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> KvCacheUtilizationScorer:
    PluginParameters.model_validate(parameters)
    return KvCacheUtilizationScorer(name)
