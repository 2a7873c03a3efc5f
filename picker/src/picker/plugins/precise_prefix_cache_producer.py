"""``precise-prefix-cache-producer``: llm-d-router v0.10's prefix-cache match data from the servers' KV events.

Owns the subscription to every endpoint's vLLM KV events and the block index
(:class:`~picker.plugins.kv_event_prefix_index.KVEventPrefixIndex`) and produces
:class:`~picker.framework.producers.PrefixCacheMatchInfo` per candidate for ``prefix-cache-scorer``
(``prefixMatchInfoProducerName: precise-prefix-cache-producer``), ``prefix-cache-affinity-filter`` and
``inflight-load-producer``:

    matched_blocks(endpoint) = longest run of the request's blocks, from the first, the endpoint holds
    total_blocks = the request's block count; block_size_tokens = ``tokenProcessorConfig.blockSizeTokens``

An endpoint that publishes no events scores 0 here (v0.10's behaviour; the deprecated
``precise-prefix-cache-scorer`` falls back to routing history instead). With ``speculativeIndexing`` a routed
request's blocks count as held by its endpoint for ``speculativeTTL`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.interfaces import SchedulingResult
from picker.framework.placement_sharing import SharedPlacement
from picker.framework.producers import PrefixCacheMatchInfo
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.kv_event_index_owner import KVEventIndexOwner
from picker.plugins.kv_event_prefix_index import (
    PRECISE_PREFIX_CACHE_PRODUCER_TYPE,
    KVEventIndexParameters,
    KVEventMatch,
    KVEventPrefixIndex,
    request_tokenizer,
)
from picker.tokenization.request_tokenizer import RequestTokenizer


class PrecisePrefixCacheProducer(KVEventIndexOwner):
    """Memoised per request: the filter, the in-flight producer and the scorer read one lookup."""

    plugin_type = PRECISE_PREFIX_CACHE_PRODUCER_TYPE

    def __init__(
        self,
        name: str,
        parameters: KVEventIndexParameters,
        tokenizer: RequestTokenizer,
        context: PluginContext,
    ) -> None:
        self.name = name
        self.parameters = parameters
        self.events = KVEventPrefixIndex(parameters, tokenizer, context)
        self._last: tuple[int, str, KVEventMatch] | None = None  # the request being scheduled
        # Sibling deciders (--workers) learn each speculative entry at once, not when the events arrive.
        self._placements = context.placements
        if self.events.speculative is not None:
            self._placements.subscribe(name, self._placed)

    def _match(self, request: InferenceRequest) -> KVEventMatch:
        last = self._last
        if last is not None and last[0] == id(request) and last[1] == request.request_id:
            return last[2]
        match = self.events.match(request)
        self._last = (id(request), request.request_id, match)
        return match

    def match_info(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> Mapping[str, PrefixCacheMatchInfo]:
        match = self._match(request)
        block_tokens = self.events.hasher.block_size
        return {
            state.endpoint.name: PrefixCacheMatchInfo(
                match.matched_blocks.get(state.endpoint.name, 0), match.total_blocks, block_tokens
            )
            for state in endpoints
        }

    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        if self.events.speculative is None:
            return
        # _last stays: later pre-request hooks read the pre-routing match
        match = self._match(request)
        endpoint = result.primary.endpoints[0].endpoint.name
        self.events.routed(endpoint, match.keys)
        new_blocks = len(match.keys) - match.matched_blocks.get(endpoint, 0)
        self._placements.publish(SharedPlacement(self.name, endpoint, match.keys, new_blocks))

    def _placed(self, placement: SharedPlacement) -> None:
        """A sibling decider routed a request to ``placement.endpoint``."""
        self.events.routed(placement.endpoint, placement.keys)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.events.prune(live_endpoint_names)

    def index_size(self) -> int:
        return self.events.size()


def create_precise_prefix_cache_producer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrecisePrefixCacheProducer:
    params = KVEventIndexParameters.model_validate(parameters)
    return PrecisePrefixCacheProducer(name, params, request_tokenizer(params, context), context)
