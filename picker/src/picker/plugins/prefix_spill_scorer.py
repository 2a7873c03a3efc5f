"""``prefix-spill-scorer``: prefix affinity that spills a hot prefix to one more replica when its home saturates.

The EPP's prefix scorer keeps sending a popular prefix to its home replica until the load scorers outvote
it, and then to whichever replica happens to be least loaded, so a hot prefix ends up scattered (and
recomputed) across the pool. This scorer withdraws affinity from *saturated* holders only while some
candidate still has headroom: the request then goes to the best-matching unsaturated replica, which after
the first spill is the one replica that already received that prefix.

A holder is saturated relative to the least-queued candidate, not on its own queue alone, and a queue
seen only in the picker's in-flight count (the server's last scrape reported nobody waiting) must be
twice as deep to count: when the picker is short of CPU its in-flight counts run ahead of the scrapes
(finished requests not yet released, running counts not yet scraped), and reading that as a queue
scattered prefixes that needed no moving. A burst far past the server's slots still counts at once.

A prefix nobody holds yet (a new conversation group, or unrelated prompts) has no affinity to weigh; it
goes where the least new content was placed recently, so distinct prefixes spread over the caches
instead of piling onto whichever replica looked least loaded at that instant (three shared contexts on a
replica that holds two thrash its cache for as long as they stay hot).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence, Set
from typing import Any

from pydantic import Field

from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import SchedulingResult
from picker.framework.load import hot_endpoints
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.placement_footprint import PlacementFootprint
from picker.plugins.prefix_cache_scorer import PrefixCacheParameters, PrefixMatch, PrefixMatcher

PREFIX_SPILL_SCORER_TYPE = "prefix-spill-scorer"
# Matches between score() and pre_request() of the same request; the rest were never scheduled.
_PENDING_CAPACITY = 4096


class SpillParameters(PluginParameters):
    """The spill rule's parameters (also the precise prefix scorer's ``spill``)."""

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


class PrefixSpillParameters(PrefixCacheParameters, SpillParameters):
    cold_match_threshold: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="below this best match share the request starts a new prefix: placed by footprint",
    )
    cold_placement_weight: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="score of the emptiest endpoint for a new prefix (0 leaves it to the other scorers)",
    )
    footprint_half_life_blocks: float = Field(
        default=4096.0,
        gt=0.0,
        description="new blocks placed pool-wide after which an endpoint's recent footprint counts half",
    )


class PrefixSpillScorer:
    """m_e = matched_blocks_e / total_blocks;
    q_e = max(waiting_e, in_flight_e - running_e); T_e = queueDepthThreshold x (1 if waiting_e > 0 else 2);
    hot_e = min(q_e, q_e - min_c q_c) >= T_e or kv_e >= kvCacheUtilThreshold;
    if max_e m_e < coldMatchThreshold (a new prefix):
        score_e = coldPlacementWeight * (min_c f_c + n) / (f_e + n),
        f_e = blocks newly placed on e, halved every footprintHalfLifeBlocks placed pool-wide, n = total_blocks;
    else score_e = m_e * saturatedMatchFactor if hot_e and some candidate is not hot, else m_e."""

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
        self._cold_threshold = parameters.cold_match_threshold
        self._cold_weight = parameters.cold_placement_weight
        self._in_flight = in_flight
        self._footprint = PlacementFootprint(parameters.footprint_half_life_blocks)
        self._pending: OrderedDict[tuple[int, str], PrefixMatch] = OrderedDict()

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        match = self.matcher.match(request, endpoints)
        total = len(match.hashes)
        if not total:
            return [0.0] * len(endpoints)
        self._pending[(id(request), request.request_id)] = match
        if len(self._pending) > _PENDING_CAPACITY:
            self._pending.popitem(last=False)
        matched = match.matched_blocks_by_endpoint
        if not matched or max(matched.values()) < self._cold_threshold * total:
            return self._footprint.scores(endpoints, total, self._cold_weight)
        hot = hot_endpoints(endpoints, self._in_flight, self._queue_threshold, self._kv_threshold)
        if all(hot):
            return [matched.get(state.endpoint.name, 0) / total for state in endpoints]
        scores = [0.0] * len(endpoints)
        for index, state in enumerate(endpoints):
            blocks = matched.get(state.endpoint.name)
            if blocks:
                scores[index] = blocks / total * (self._hot_factor if hot[index] else 1.0)
        return scores

    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        match = self._pending.pop((id(request), request.request_id), None)
        if match is not None:
            chosen = result.primary.endpoints[0].endpoint.name
            self._footprint.place(chosen, len(match.hashes) - match.matched_blocks_by_endpoint.get(chosen, 0))
        self.matcher.record(request, result)

    def footprint(self, endpoint_name: str) -> float:
        """Recent new blocks placed on ``endpoint_name`` (decayed), as cold placement sees them."""
        return self._footprint.get(endpoint_name)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.matcher.prune(live_endpoint_names)
        self._footprint.prune(live_endpoint_names)

    def index_size(self) -> int:
        return self.matcher.index.size()


def create_prefix_spill_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrefixSpillScorer:
    params = PrefixSpillParameters.model_validate(parameters)
    return PrefixSpillScorer(PrefixMatcher(params, context.metrics), params, context.in_flight, name)
