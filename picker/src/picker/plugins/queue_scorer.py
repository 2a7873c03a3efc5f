"""``queue-scorer``: prefers endpoints with short waiting queues (EPP semantics, min-max normalised)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest

QUEUE_SCORER_TYPE = "queue-scorer"


class QueueScorer:
    """score = (max_q - q) / (max_q - min_q) over ``vllm:num_requests_waiting``; 1.0 for all when equal."""

    plugin_type = QUEUE_SCORER_TYPE

    def __init__(self, name: str = QUEUE_SCORER_TYPE) -> None:
        self.name = name

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        # Inlined metrics_of: this runs over every candidate on every request.
        queues = [0 if (m := state.metrics) is None else m.waiting_queue_size for state in endpoints]
        if not queues:
            return []
        lowest, highest = min(queues), max(queues)
        if highest == lowest:
            return [1.0] * len(queues)
        span = highest - lowest
        return [(highest - queue) / span for queue in queues]


def create_queue_scorer(name: str, parameters: Mapping[str, Any], context: PluginContext) -> QueueScorer:
    PluginParameters.model_validate(parameters)  # takes no parameters; rejects any
    return QueueScorer(name)
