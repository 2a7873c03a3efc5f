"""``approx-prefix-cache-producer``: llm-d-router v0.10's approximate prefix-cache match data.

Produces :class:`~picker.framework.producers.PrefixCacheMatchInfo` per candidate for
``prefix-cache-affinity-filter``, ``inflight-load-producer`` and ``token-load-scorer``, from routing
history: the request's prompt is cut into blocks, chained-hashed (``picker.plugins.prefix_hashing``) and
looked up in a per-endpoint LRU; after scheduling the blocks are recorded on the chosen endpoint.

Block size (tokens) = the server's reported ``vllm:cache_config_info`` block size when ``autoTune``, else
``blockSizeTokens``; raised to at least 64 (v0.10 clamps the same way to bound index memory). Blocks
hashed per request = ``maxPrefixTokensToMatch // blockSize`` when > 0, else ``maxPrefixBlocksToMatch``
(0 = all). v0.10 hashes token ids; the picker hashes the prompt text at 4 characters per token (the
EPP's estimate), so a block of 64 tokens is 256 characters here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

from pydantic import Field, model_validator

from picker.framework.context import PluginContext, PluginMetricsSink
from picker.framework.interfaces import SchedulingResult
from picker.framework.producers import PrefixCacheMatchInfo
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.prefix_cache_scorer import (
    CHARS_PER_TOKEN,
    PrefixCacheParameters,
    PrefixMatch,
    PrefixMatcher,
)

APPROX_PREFIX_CACHE_PRODUCER_TYPE = "approx-prefix-cache-producer"
MIN_BLOCK_SIZE_TOKENS = 64
_UNLIMITED_BLOCKS = 1 << 30


class ApproxPrefixCacheProducerParameters(PluginParameters):
    auto_tune: bool = True
    block_size_tokens: int = Field(default=16, ge=0)
    max_prefix_tokens_to_match: int = Field(default=131072, ge=0)
    max_prefix_blocks_to_match: int = Field(default=2048, ge=0)
    lru_capacity_per_server: int = Field(default=31250, ge=0)
    block_size: int | None = Field(default=None, ge=1, description="deprecated: use blockSizeTokens")

    @model_validator(mode="after")
    def _check(self) -> ApproxPrefixCacheProducerParameters:
        if self.block_size is not None and "block_size_tokens" not in self.model_fields_set:
            return self.model_copy(update={"block_size_tokens": self.block_size, "block_size": None})
        if not self.auto_tune and self.block_size_tokens <= 0:
            raise ValueError("blockSizeTokens must be > 0 when autoTune is false")
        return self


class _TokenBlockMatcher(PrefixMatcher):
    """The shared prefix matcher with v0.10's token-based block size and token cap."""

    def __init__(self, parameters: ApproxPrefixCacheProducerParameters, metrics: PluginMetricsSink) -> None:
        super().__init__(
            PrefixCacheParameters(
                block_size=max(parameters.block_size_tokens, MIN_BLOCK_SIZE_TOKENS) * CHARS_PER_TOKEN,
                lru_capacity_per_server=parameters.lru_capacity_per_server or 31250,
            ),
            metrics,
        )
        self.producer_parameters = parameters

    def block_size_tokens_for(self, endpoints: Sequence[EndpointState]) -> int:
        tokens = self.producer_parameters.block_size_tokens
        first = endpoints[0].metrics if endpoints else None
        if self.producer_parameters.auto_tune and first is not None and first.cache_block_size_tokens:
            tokens = first.cache_block_size_tokens
        return max(tokens, MIN_BLOCK_SIZE_TOKENS)

    def block_size_for(self, endpoints: Sequence[EndpointState]) -> int:
        return self.block_size_tokens_for(endpoints) * CHARS_PER_TOKEN

    def max_blocks_for(self, block_size: int) -> int:
        block_tokens = block_size // CHARS_PER_TOKEN
        if self.producer_parameters.max_prefix_tokens_to_match > 0:
            return self.producer_parameters.max_prefix_tokens_to_match // block_tokens
        return self.producer_parameters.max_prefix_blocks_to_match or _UNLIMITED_BLOCKS


class ApproxPrefixCacheProducer:
    """Memoised per request: the filter, the in-flight producer and the scorer read one computation."""

    plugin_type = APPROX_PREFIX_CACHE_PRODUCER_TYPE

    def __init__(
        self,
        parameters: ApproxPrefixCacheProducerParameters,
        metrics: PluginMetricsSink,
        name: str = APPROX_PREFIX_CACHE_PRODUCER_TYPE,
    ) -> None:
        self.name = name
        self.parameters = parameters
        self._matcher = _TokenBlockMatcher(parameters, metrics)
        self._last: tuple[int, str, PrefixMatch] | None = None  # the request being scheduled

    def match_info(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> Mapping[str, PrefixCacheMatchInfo]:
        last = self._last
        if last is not None and last[0] == id(request) and last[1] == request.request_id:
            match = last[2]
        else:
            match = self._matcher.match(request, endpoints)
            self._last = (id(request), request.request_id, match)
        block_tokens = match.block_size // CHARS_PER_TOKEN
        total = len(match.hashes)
        matched = match.matched_blocks_by_endpoint
        return {
            state.endpoint.name: PrefixCacheMatchInfo(
                matched.get(state.endpoint.name, 0), total, block_tokens
            )
            for state in endpoints
        }

    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        self._matcher.record(
            request, result
        )  # _last stays: later pre-request hooks read the pre-routing match

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self._matcher.prune(live_endpoint_names)

    def index_size(self) -> int:
        return self._matcher.index.size()


def create_approx_prefix_cache_producer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> ApproxPrefixCacheProducer:
    params = ApproxPrefixCacheProducerParameters.model_validate(parameters)
    return ApproxPrefixCacheProducer(params, context.metrics, name)
