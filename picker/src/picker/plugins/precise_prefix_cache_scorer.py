"""``precise-prefix-cache-scorer``: prefix-cache affinity from what the model servers say they hold.

llm-d's precise prefix cache (its ``precise-prefix-cache-producer`` feeding a prefix scorer, composed here in
one plugin under llm-d's older type name): the producer subscribes to every endpoint's vLLM KV events
(``BlockStored`` / ``BlockRemoved`` / ``AllBlocksCleared``) and keeps an index from block keys to the endpoints
holding them; the scorer tokenizes the request like the server does and scores

    score(endpoint) = longest run of the request's blocks, from the first, that the endpoint holds
                      / the request's block count
    (with ``spill`` set: x saturatedMatchFactor for a saturated holder while some candidate is not saturated;
    with ``historyBelowMatch`` set and no endpoint holding that share of the request: routing history instead,
    and for a new prefix ``coldPlacement``'s rule: prefix-spill-scorer's footprint placement (with
    ``coldPlacementWeight`` set) when routing history holds below that share too (unrelated chat prompts
    share the template's first block), or rendezvous hashing, which every picker process computes alike,
    when nothing was routed for it)

An endpoint that publishes no events (none yet, publisher gone, restarted and not replayed) is scored by the
approximate ``prefix-cache-scorer`` rule instead (matched / total of the request's first 256 blocks, against
where the picker sent earlier requests' first 256 blocks: an LRU of ``lruCapacityPerServer`` blocks per
endpoint, over the same block keys); the number of such endpoints is the
``inference_extension_kv_events_fallback_endpoints`` gauge.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence, Set
from typing import Any, Literal

from pydantic import Field, model_validator

from picker.framework.context import PluginContext, PluginMetricsSink
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import SchedulingResult
from picker.framework.load import hot_endpoints
from picker.framework.placement_sharing import SharedPlacement
from picker.framework.types import EndpointState, InferenceRequest
from picker.kvevents.speculative_index import SpeculativeIndex
from picker.kvevents.stored_footprint import StoredFootprint
from picker.plugins.kv_block_fit import KVBlockFit, KVBlockFitParameters
from picker.plugins.kv_event_index_owner import KVEventIndexOwner
from picker.plugins.kv_event_prefix_index import (
    PRECISE_PREFIX_CACHE_SCORER_TYPE,
    KVEventIndexParameters,
    KVEventPrefixIndex,
    request_tokenizer,
)
from picker.plugins.placement_footprint import PlacementFootprint
from picker.plugins.prefill_backlog import PrefillBacklog, PrefillBacklogParameters
from picker.plugins.prefix_index import PrefixIndex
from picker.plugins.prefix_spill_scorer import SpillParameters
from picker.plugins.rendezvous_placement import RendezvousPlacement, first_unheld_block
from picker.tokenization.request_tokenizer import RequestTokenizer

_PENDING_CAPACITY = 4096  # requests scored but not yet routed (a failed schedule never calls pre_request)
# Routing history keeps a request's first blocks only (4,096 tokens at 16 per block): enough to tell where a
# prefix went, at a fraction of the cost of recording every block of every request.
_HISTORY_BLOCKS = 256
# Sibling deciders' routing history: their latest placement per endpoint and first block, most recent kept.
_SHARED_HISTORY_ENTRIES = 16384


class PrecisePrefixCacheParameters(KVEventIndexParameters):
    lru_capacity_per_server: int = Field(
        default=31250, ge=1, description="routing-history blocks remembered per endpoint (for the fallbacks)"
    )
    spill: SpillParameters | None = Field(
        default=None, description="prefix-spill-scorer's rule on precise matches; off unless set"
    )
    history_below_match: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="below this best cached share, every endpoint scores from routing history (0: off)",
    )
    cold_placement_weight: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="a prefix nobody holds and routing history holds below historyBelowMatch of goes where the "
        "least new content went (prefix-spill-scorer's rule; needs historyBelowMatch; 0: off)",
    )
    footprint_half_life_blocks: float = Field(
        default=4096.0,
        gt=0.0,
        description="new blocks placed pool-wide after which an endpoint's recent footprint counts half",
    )
    prefill_backlog: PrefillBacklogParameters | None = Field(
        default=None,
        description="a prefix nobody holds does not go where history put it when that costs more than "
        "maxTTFTPenaltyMs of estimated TTFT (needs historyBelowMatch); off unless set",
    )
    kv_block_fit: KVBlockFitParameters | None = Field(
        default=None,
        description="a prefix nobody holds leaves endpoints its KV blocks do not fit now for those they fit, "
        "when affinity points only at the former (needs historyBelowMatch); off unless set",
    )
    cold_placement: Literal["footprint", "rendezvous"] = Field(
        default="footprint",
        description="a prefix nobody holds and nothing was routed for: 'footprint' (coldPlacementWeight's "
        "rule, this process's own placements) or 'rendezvous' (hashed over the endpoints not saturated: "
        "every picker process and replica places it alike; needs historyBelowMatch)",
    )

    @model_validator(mode="after")
    def _cold_rules_need_cold_detection(self) -> PrecisePrefixCacheParameters:
        if self.cold_placement == "rendezvous" and self.history_below_match == 0:
            raise ValueError(
                "coldPlacement: rendezvous places prefixes nobody holds, which historyBelowMatch detects: "
                "set historyBelowMatch (e.g. 0.25) or drop coldPlacement"
            )
        if self.prefill_backlog is not None and self.history_below_match == 0:
            raise ValueError(
                "prefillBacklog redirects prefixes nobody holds, which historyBelowMatch detects: "
                "set historyBelowMatch (e.g. 0.25) or drop prefillBacklog"
            )
        if self.kv_block_fit is not None and self.history_below_match == 0:
            raise ValueError(
                "kvBlockFit moves prefixes nobody holds, which historyBelowMatch detects: "
                "set historyBelowMatch (e.g. 0.25) or drop kvBlockFit"
            )
        return self


class PrecisePrefixCacheScorer(KVEventIndexOwner):
    plugin_type = PRECISE_PREFIX_CACHE_SCORER_TYPE

    def __init__(
        self,
        name: str,
        parameters: PrecisePrefixCacheParameters,
        tokenizer: RequestTokenizer,
        context: PluginContext,
    ) -> None:
        self.name = name
        self.parameters = parameters
        self.tokenizer = tokenizer
        self._metrics: PluginMetricsSink = context.metrics
        # Rendezvous placement reads where the servers stored new content (by their events); nothing else does.
        self._stored_footprint = (
            StoredFootprint(parameters.footprint_half_life_blocks)
            if parameters.cold_placement == "rendezvous"
            else None
        )
        self.events = KVEventPrefixIndex(parameters, tokenizer, context, self._stored_footprint)
        self.hasher = self.events.hasher
        self.index = self.events.index
        self.indexer = self.events.indexer
        self.subscriber = self.events.subscriber
        # Per scored request: the keys its server will store it under, and each endpoint's cached run.
        self._routed_keys: OrderedDict[tuple[int, str], tuple[list[int], dict[str, int]]] = OrderedDict()
        self._footprint = PlacementFootprint(parameters.footprint_half_life_blocks)
        self._rendezvous = RendezvousPlacement()
        self._backlog = (
            PrefillBacklog(parameters.prefill_backlog) if parameters.prefill_backlog is not None else None
        )
        self._kv_fit = KVBlockFit(parameters.kv_block_fit) if parameters.kv_block_fit is not None else None
        self._clock = context.clock
        self._block_tokens = parameters.token_processor_config.block_size_tokens
        # Where the picker sent which blocks (the approximate scorers' routing history, over the same keys).
        self.history = PrefixIndex(parameters.lru_capacity_per_server)
        # And where sibling deciders (--workers, peer replicas) sent them: one entry per endpoint and first
        # block, O(1) to record per placement where the LRU above costs per block (the receiver records every
        # sibling's placement, so that cost would be paid once more per decider).
        self.shared_history = SpeculativeIndex(math.inf, _SHARED_HISTORY_ENTRIES)
        self._in_flight = context.in_flight
        # Never counts: rendezvous placement's veto reads the scraped metrics only.
        self._none_in_flight = InFlightTracker()
        # Sibling deciders (--workers) learn each placement at once, not when its server's events arrive.
        self._placements = context.placements
        self._placements.subscribe(name, self._sibling_placed)

    # -- Scorer -----------------------------------------------------------------------------------
    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        scores = self._affinity_scores(request, endpoints)
        routed = self._routed_keys.get(_request_key(request))
        if routed is None or (self._backlog is None and self._kv_fit is None):
            return scores
        keys, matched = routed
        nobody_holds = self._nobody_holds(matched, len(keys))
        if self._backlog is not None and nobody_holds:
            block_tokens = self._block_tokens
            scores = self._backlog.yield_affinity(
                scores,
                [state.endpoint.name for state in endpoints],
                [(len(keys) - matched.get(state.endpoint.name, 0)) * block_tokens for state in endpoints],
                self._clock.now(),
            )
        if self._kv_fit is not None and nobody_holds:
            # Every prompt block is allocated or taken from the free pool (see kv_block_fit).
            scores = self._kv_fit.yield_affinity(scores, endpoints, [len(keys)] * len(endpoints))
        return scores

    def _affinity_scores(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        publishing = self.events.publishing_endpoints()
        silent = [state for state in endpoints if state.endpoint.name not in publishing]
        self._metrics.set_kv_event_fallback_endpoints(len(silent))
        matched, total = self.match(request)
        if not total:
            return [0.0] * len(endpoints)
        # Nobody holds (enough of) it any more: go where it went before, so that a prefix evicted
        # everywhere comes back on one replica instead of wherever load points.
        cold = self._nobody_holds(matched, total)
        routed: dict[str, int] = {}
        routed_total = 1
        if silent or cold:
            history_keys = self._routed_keys[_request_key(request)][0][:_HISTORY_BLOCKS]
            routed, routed_total = self.history.match(history_keys), len(history_keys)
            for name, blocks in self.shared_history.longest_prefix(history_keys, 0.0).items():
                if blocks > routed.get(name, 0):
                    routed[name] = blocks
        # A new prefix: spread it over the caches rather than where load points this instant.
        if cold and self.parameters.cold_placement == "rendezvous":
            # A hard pick that overrules load: only for a prefix nothing was routed for (given to it as well
            # for prompts sharing a template block with history, it raised p90 TTFT on no-sharing and
            # capacity-bound chat in virtual time).
            if not any(routed.values()):
                return self._rendezvous_scores(request, endpoints)
        elif cold and self.parameters.cold_placement_weight > 0 and self._nobody_holds(routed, routed_total):
            # Soft, so load still decides between near-equals; routing history holding under
            # historyBelowMatch of the request, like the caches, does not make it a known prefix (unrelated
            # chat prompts share the template's first block).
            return self._footprint.scores(endpoints, total, self.parameters.cold_placement_weight)
        scores = []
        for state in endpoints:
            name = state.endpoint.name
            if name in publishing and not cold:
                scores.append(matched.get(name, 0) / total)
            else:
                scores.append(routed.get(name, 0) / routed_total)
        spill = self.parameters.spill
        if spill is not None and any(scores):
            hot = hot_endpoints(
                endpoints, self._in_flight, spill.queue_depth_threshold, spill.kv_cache_util_threshold
            )
            if not all(hot):
                scores = [
                    score * spill.saturated_match_factor if is_hot else score
                    for score, is_hot in zip(scores, hot, strict=True)
                ]
        return scores

    def _nobody_holds(self, matched: Mapping[str, int], total: int) -> bool:
        """No endpoint holds ``historyBelowMatch`` of the request (always False with it off)."""
        threshold = self.parameters.history_below_match
        return threshold > 0 and max(matched.values(), default=0) < threshold * total

    def _rendezvous_scores(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> list[float]:
        """1 for the endpoint every picker process picks for this new prefix: rendezvous hashing of its first
        block no endpoint holds by the events, over the endpoints the spill rule does not call hot by their
        scraped metrics and whose recent stores (by the events) are within half this request's new blocks of
        the lightest's."""
        keys = self._routed_keys[_request_key(request)][0]
        held = max(self.index.longest_prefix(keys).values(), default=0)
        spill = self.parameters.spill
        # The spill rule on the scraped metrics alone: this process's in-flight counts are its own share of
        # the traffic, which another process does not see, so they would make two processes veto differently.
        hot = (
            hot_endpoints(
                endpoints, self._none_in_flight, spill.queue_depth_threshold, spill.kv_cache_util_threshold
            )
            if spill is not None
            else [False] * len(endpoints)
        )
        footprint = self._stored_footprint
        assert footprint is not None  # kept whenever coldPlacement is rendezvous
        chosen = self._rendezvous.choose(
            first_unheld_block(keys, held),
            [state.endpoint.name for state in endpoints],
            [footprint.get(state.endpoint.name) for state in endpoints],
            len(keys) - held,
            hot,
        )
        return [1.0 if index == chosen else 0.0 for index in range(len(endpoints))]

    def match(self, request: InferenceRequest) -> tuple[dict[str, int], int]:
        """Per endpoint the longest cached run of the request's blocks, and the request's block count
        (:meth:`KVEventPrefixIndex.match`); remembered for ``pre_request``."""
        match = self.events.match(request)
        if not match.total_blocks:
            return {}, 0
        self._routed_keys[_request_key(request)] = (match.keys, match.matched_blocks)
        if len(self._routed_keys) > _PENDING_CAPACITY:
            self._routed_keys.popitem(last=False)
        return match.matched_blocks, match.total_blocks

    # -- lifecycle hooks --------------------------------------------------------------------------
    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        routed = self._routed_keys.pop(_request_key(request), None)
        if routed is None:  # scheduled by a profile without this scorer
            self.match(request)
            routed = self._routed_keys.pop(_request_key(request), None)
        if routed is None or not routed[0]:
            return
        keys, matched = routed
        endpoint = result.primary.endpoints[0].endpoint.name
        placement = SharedPlacement(self.name, endpoint, keys, len(keys) - matched.get(endpoint, 0))
        self.history.add(endpoint, keys[:_HISTORY_BLOCKS])
        self._placed(placement)
        self._placements.publish(placement)

    def _sibling_placed(self, placement: SharedPlacement) -> None:
        """A sibling decider sent a request to ``placement.endpoint``: as if routed here, its history kept
        apart (``shared_history``)."""
        self.shared_history.add(placement.endpoint, placement.keys[:_HISTORY_BLOCKS], 0.0)
        self._placed(placement)

    def _placed(self, placement: SharedPlacement) -> None:
        """What every placement, this decider's or a sibling's, adds besides routing history: the footprint,
        the prefill backlog and the speculative entries."""
        endpoint = placement.endpoint
        self._footprint.place(endpoint, placement.new_blocks)
        if self._backlog is not None:
            self._backlog.add(endpoint, placement.new_blocks * self._block_tokens, self._clock.now())
        if self._kv_fit is not None:
            self._kv_fit.add(endpoint, placement.new_blocks, self._clock.now())
        self.events.routed(endpoint, placement.keys)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.history.prune(live_endpoint_names)
        self.shared_history.prune(live_endpoint_names)
        self._footprint.prune(live_endpoint_names)
        self._rendezvous.prune(live_endpoint_names)
        if self._backlog is not None:
            self._backlog.prune(live_endpoint_names)
        if self._kv_fit is not None:
            self._kv_fit.prune(live_endpoint_names)
        self.events.prune(live_endpoint_names)

    def index_size(self) -> int:
        return self.events.size() + self.history.size()


def _request_key(request: InferenceRequest) -> tuple[int, str]:
    # By identity and id: two in-flight requests may carry the same x-request-id.
    return (id(request), request.request_id)


def create_precise_prefix_cache_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrecisePrefixCacheScorer:
    params = PrecisePrefixCacheParameters.model_validate(parameters)
    return PrecisePrefixCacheScorer(name, params, request_tokenizer(params, context), context)
