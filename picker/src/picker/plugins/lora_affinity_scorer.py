"""``lora-affinity-scorer``: prefers endpoints that already run the requested LoRA adapter (EPP semantics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest

LORA_AFFINITY_SCORER_TYPE = "lora-affinity-scorer"

ACTIVE_SCORE = 1.0  # adapter already running: no swap at all
FREE_SLOT_SCORE = 0.8  # a free adapter slot: load without evicting
WAITING_SCORE = 0.6  # adapter queued to load there already


class LoraAffinityScorer:
    """1.0 if the adapter (the target model) is running; else 0.8 if active + waiting < max_lora;
    else 0.6 if it is waiting; else 0."""

    plugin_type = LORA_AFFINITY_SCORER_TYPE

    def __init__(self, name: str = LORA_AFFINITY_SCORER_TYPE) -> None:
        self.name = name

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        adapter = request.target_model
        scores: list[float] = []
        append = scores.append
        for state in endpoints:
            metrics = state.metrics
            if metrics is None:
                append(0.0)
            elif adapter in metrics.active_lora_adapters:
                append(ACTIVE_SCORE)
            elif (
                len(metrics.active_lora_adapters) + len(metrics.waiting_lora_adapters)
                < metrics.max_active_loras
            ):
                append(FREE_SLOT_SCORE)
            elif adapter in metrics.waiting_lora_adapters:
                append(WAITING_SCORE)
            else:
                append(0.0)
        return scores


def create_lora_affinity_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> LoraAffinityScorer:
    PluginParameters.model_validate(parameters)
    return LoraAffinityScorer(name)
