"""``token-load-scorer``: llm-d-router v0.10's score from uncached tokens in flight.

score_e = 1 - min(1, (inflight_tokens_e + request_tokens_e) / queueThresholdTokens), where inflight tokens
come from ``inflight-load-producer`` (``inFlightLoadProducerName``) and request tokens are the request's
prompt tokens the endpoint has not cached. ``queueThresholdTokens`` defaults to 4194304 (128 requests of
32K tokens); a value <= 0 means the default, as in v0.10.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from picker.framework.context import PluginContext
from picker.framework.interfaces import Plugin
from picker.framework.producers import (
    InFlightLoadProducer,
    find_in_flight_load_producer,
)
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.inflight_load_producer import INFLIGHT_LOAD_PRODUCER_TYPE

TOKEN_LOAD_SCORER_TYPE = "token-load-scorer"
DEFAULT_QUEUE_THRESHOLD_TOKENS = 4_194_304


class TokenLoadScorerParameters(PluginParameters):
    queue_threshold_tokens: int = Field(default=DEFAULT_QUEUE_THRESHOLD_TOKENS)
    in_flight_load_producer_name: str = Field(default=INFLIGHT_LOAD_PRODUCER_TYPE, min_length=1)


class TokenLoadScorer:
    plugin_type = TOKEN_LOAD_SCORER_TYPE

    def __init__(self, parameters: TokenLoadScorerParameters, name: str = TOKEN_LOAD_SCORER_TYPE) -> None:
        self.name = name
        self.parameters = parameters
        threshold = parameters.queue_threshold_tokens
        self.queue_threshold_tokens = float(threshold if threshold > 0 else DEFAULT_QUEUE_THRESHOLD_TOKENS)
        self._load: InFlightLoadProducer | None = None

    def bind_producers(self, plugins: Mapping[str, Plugin]) -> None:
        self._load = find_in_flight_load_producer(
            plugins, self.parameters.in_flight_load_producer_name, INFLIGHT_LOAD_PRODUCER_TYPE
        )

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        producer = self._load
        if producer is None:
            raise RuntimeError(f"{self.name}: bind_producers was not called")
        request_tokens = producer.request_tokens(request, endpoints)
        threshold = self.queue_threshold_tokens
        return [
            1.0 - min(1.0, (producer.load(state.endpoint.name).tokens + extra) / threshold)
            for state, extra in zip(endpoints, request_tokens, strict=True)
        ]


def create_token_load_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> TokenLoadScorer:
    return TokenLoadScorer(TokenLoadScorerParameters.model_validate(parameters), name)
