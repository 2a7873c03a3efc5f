"""``prefix-cache-affinity-filter``: llm-d-router v0.10's "sticky until saturated" gate.

With more than one candidate and ``affinityThreshold`` > 0: unless an exploration draw (probability
``explorationProbability``, from the injected RNG) skips the gate, the sticky set is the candidates whose
prefix score (matched / total blocks, from ``prefixMatchInfoProducerName``) is >= ``affinityThreshold``.
No sticky candidate: keep all. Otherwise, with ``maxTTFTPenaltyMs`` > 0 the TTFT load gate estimates
ttft_e = inflight_tokens_e / ``peakPrefillThroughput`` x 1000 ms (in-flight tokens from
``inFlightLoadProducerName``) and keeps all candidates when min(ttft over sticky) - min(ttft over the rest)
> ``maxTTFTPenaltyMs``; else keeps the sticky set. ``maxTTFTPenaltyMs: 0`` always sticks.
``ttftSource: latencyPredictor`` needs v0.10's latency predictor, which the picker does not have.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from picker.framework.context import PluginContext
from picker.framework.interfaces import Plugin
from picker.framework.producers import (
    InFlightLoadProducer,
    PrefixMatchProducer,
    find_in_flight_load_producer,
    find_prefix_match_producer,
)
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.approx_prefix_cache_producer import APPROX_PREFIX_CACHE_PRODUCER_TYPE
from picker.plugins.inflight_load_producer import INFLIGHT_LOAD_PRODUCER_TYPE

PREFIX_CACHE_AFFINITY_FILTER_TYPE = "prefix-cache-affinity-filter"


class PrefixCacheAffinityFilterParameters(PluginParameters):
    affinity_threshold: float = 0.80
    exploration_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    max_ttft_penalty_ms: float = Field(default=18000.0, ge=0.0, alias="maxTTFTPenaltyMs")
    ttft_source: Literal["prefillThroughput"] = Field(
        default="prefillThroughput",
        description="latencyPredictor is v0.10's other source; the picker has no latency predictor",
    )
    peak_prefill_throughput: float = Field(default=15928.0, gt=0.0, description="tokens per second")
    prefix_match_info_producer_name: str = Field(default=APPROX_PREFIX_CACHE_PRODUCER_TYPE, min_length=1)
    in_flight_load_producer_name: str = Field(default=INFLIGHT_LOAD_PRODUCER_TYPE, min_length=1)
    latency_prediction_info_producer_name: str | None = Field(default=None, min_length=1)


class PrefixCacheAffinityFilter:
    plugin_type = PREFIX_CACHE_AFFINITY_FILTER_TYPE

    def __init__(
        self,
        parameters: PrefixCacheAffinityFilterParameters,
        rng: random.Random,
        name: str = PREFIX_CACHE_AFFINITY_FILTER_TYPE,
    ) -> None:
        self.name = name
        self.parameters = parameters
        self._rng = rng
        self._prefix: PrefixMatchProducer | None = None
        self._load: InFlightLoadProducer | None = None

    def bind_producers(self, plugins: Mapping[str, Plugin]) -> None:
        self._prefix = find_prefix_match_producer(
            plugins, self.parameters.prefix_match_info_producer_name, APPROX_PREFIX_CACHE_PRODUCER_TYPE
        )
        if self.parameters.max_ttft_penalty_ms > 0:  # the load gate reads in-flight tokens
            self._load = find_in_flight_load_producer(
                plugins, self.parameters.in_flight_load_producer_name, INFLIGHT_LOAD_PRODUCER_TYPE
            )

    def filter(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> Sequence[EndpointState]:
        parameters = self.parameters
        if len(endpoints) <= 1 or parameters.affinity_threshold <= 0:
            return endpoints
        if parameters.exploration_probability > 0 and self._rng.random() < parameters.exploration_probability:
            return endpoints
        if self._prefix is None:
            raise RuntimeError(f"{self.name}: bind_producers was not called")
        info = self._prefix.match_info(request, endpoints)
        threshold = parameters.affinity_threshold
        sticky = [state for state in endpoints if info[state.endpoint.name].score >= threshold]
        if not sticky or len(sticky) == len(endpoints) or self._load is None:
            return sticky or endpoints
        sticky_names = {state.endpoint.name for state in sticky}
        scale = 1000.0 / parameters.peak_prefill_throughput
        best_sticky = min(self._load.load(name).tokens for name in sticky_names) * scale
        best_other = (
            min(
                self._load.load(s.endpoint.name).tokens
                for s in endpoints
                if s.endpoint.name not in sticky_names
            )
            * scale
        )
        if best_sticky - best_other > parameters.max_ttft_penalty_ms:
            return endpoints  # stickiness broken: the sticky holders are saturated
        return sticky


def create_prefix_cache_affinity_filter(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrefixCacheAffinityFilter:
    return PrefixCacheAffinityFilter(
        PrefixCacheAffinityFilterParameters.model_validate(parameters), context.rng, name
    )
