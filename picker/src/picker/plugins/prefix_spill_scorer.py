"""``prefix-spill-scorer``: prefix affinity that spills a hot prefix to one more replica when its home saturates.

The EPP's prefix scorer keeps sending a popular prefix to its home replica until the load scorers outvote
it, and then to whichever replica happens to be least loaded, so a hot prefix ends up scattered (and
recomputed) across the pool. This scorer withdraws affinity from *saturated* holders only while some
candidate still has headroom: the request then goes to the best-matching unsaturated replica, which after
the first spill is the one replica that already received that prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

from pydantic import Field

from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import SchedulingResult
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins._load import fresh_queue_estimate, metrics_of
from picker.plugins.prefix_cache_scorer import PrefixCacheParameters, PrefixMatcher

PREFIX_SPILL_SCORER_TYPE = "prefix-spill-scorer"


class PrefixSpillParameters(PrefixCacheParameters):
    queue_depth_threshold: int = Field(default=2, ge=1, description="queued requests that make a holder hot")
    kv_cache_util_threshold: float = Field(
        default=0.95, gt=0.0, le=1.0, description="KV usage that makes a holder hot (near preemption)"
    )
    saturated_match_factor: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="share of affinity a hot holder keeps while others have headroom",
    )


class PrefixSpillScorer:
    """m_e = matched_blocks_e / total_blocks;
    q_e = max(waiting_e, in_flight_e - running_e); hot_e = q_e >= queueDepthThreshold or kv_e >= kvCacheUtilThreshold;
    score_e = m_e * saturatedMatchFactor if hot_e and some candidate is not hot, else m_e."""

    plugin_type = PREFIX_SPILL_SCORER_TYPE

    def __init__(
        self,
        matcher: PrefixMatcher,
        parameters: PrefixSpillParameters,
        in_flight: InFlightTracker,
        name: str = PREFIX_SPILL_SCORER_TYPE,
    ) -> None:
        self.name = name
        self.matcher = matcher
        self._queue_threshold = parameters.queue_depth_threshold
        self._kv_threshold = parameters.kv_cache_util_threshold
        self._hot_factor = parameters.saturated_match_factor
        self._in_flight = in_flight

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        match = self.matcher.match(request, endpoints)
        matched = match.matched_blocks_by_endpoint
        if not matched:
            return [0.0] * len(endpoints)
        total = len(match.hashes)
        # Hotness matters only for holders, and "someone is cool" usually stops at the first candidate.
        if not any(not self._is_hot(state) for state in endpoints):
            return [matched.get(state.endpoint.name, 0) / total for state in endpoints]
        scores = [0.0] * len(endpoints)
        for index, state in enumerate(endpoints):
            blocks = matched.get(state.endpoint.name)
            if blocks:
                scores[index] = blocks / total * (self._hot_factor if self._is_hot(state) else 1.0)
        return scores

    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        self.matcher.record(request, result)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.matcher.prune(live_endpoint_names)

    def index_size(self) -> int:
        return self.matcher.index.size()

    def _is_hot(self, state: EndpointState) -> bool:
        metrics = metrics_of(state)
        queued = fresh_queue_estimate(metrics, self._in_flight.count(state.endpoint.name))
        return queued >= self._queue_threshold or metrics.kv_cache_usage_ratio >= self._kv_threshold


def create_prefix_spill_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrefixSpillScorer:
    params = PrefixSpillParameters.model_validate(parameters)
    return PrefixSpillScorer(PrefixMatcher(params, context.metrics), params, context.in_flight, name)
