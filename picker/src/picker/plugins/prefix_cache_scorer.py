"""``prefix-cache-scorer``: approximate prefix-cache affinity (EPP semantics, inference-extension.md 4.4).

Scores matched_blocks / total_blocks per endpoint; after scheduling records the request's blocks on the
primary endpoint. Hashes are computed once per request and reused by ``pre_request``.

With ``prefixMatchInfoProducerName`` set (llm-d-router v0.10), the scorer keeps no index of its own: it scores
the named producer's ``PrefixCacheMatchInfo`` (matched / total blocks), e.g. ``approx-prefix-cache-producer``
(routing history) or ``precise-prefix-cache-producer`` (the servers' KV events); the producer records the
request itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from picker.framework.context import PluginContext, PluginMetricsSink
from picker.framework.interfaces import Plugin, SchedulingResult
from picker.framework.producers import PrefixMatchProducer, find_prefix_match_producer
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.prefix_hashing import prefix_block_hashes
from picker.plugins.prefix_index import PrefixIndex

PREFIX_CACHE_SCORER_TYPE = "prefix-cache-scorer"
CHARS_PER_TOKEN = 4  # the EPP's assumption when turning vLLM's token block size into characters
_MEMO_CAPACITY = 4096  # requests scored but not yet pre_request'ed (a scheduling failure never calls it)


class PrefixCacheParameters(PluginParameters):
    block_size: int = Field(default=64, ge=1, description="characters per block when the server reports none")
    max_prefix_blocks_to_match: int = Field(default=256, ge=1)
    lru_capacity_per_server: int = Field(default=31250, ge=1)
    hash_block_size: int | None = Field(default=None, ge=1, description="v1.0 spelling of blockSize")
    prefix_match_info_producer_name: str | None = Field(
        default=None, min_length=1, description="score this producer's match info instead of an own index"
    )

    @model_validator(mode="after")
    def _accept_v1_0_name(self) -> PrefixCacheParameters:
        if self.hash_block_size is not None and "block_size" not in self.model_fields_set:
            return self.model_copy(update={"block_size": self.hash_block_size})
        return self


@dataclass(frozen=True, slots=True)
class PrefixMatch:
    """One request's block hashes and the block size (characters) they were cut with."""

    hashes: list[int]
    block_size: int
    matched_blocks_by_endpoint: dict[str, int]


class PrefixMatcher:
    """Hashing + index + per-request memo; shared by the prefix scorers of this package."""

    def __init__(self, parameters: PrefixCacheParameters, metrics: PluginMetricsSink) -> None:
        self.parameters = parameters
        self.index = PrefixIndex(parameters.lru_capacity_per_server)
        self._metrics = metrics
        # Keyed by object identity and id: two in-flight requests may carry the same x-request-id.
        self._memo: OrderedDict[tuple[int, str], PrefixMatch] = OrderedDict()

    def block_size_for(self, endpoints: Sequence[EndpointState]) -> int:
        """The first candidate's reported vLLM block size x 4 characters, else the configured blockSize."""
        first = endpoints[0].metrics if endpoints else None
        if first is not None and first.cache_block_size_tokens:
            return first.cache_block_size_tokens * CHARS_PER_TOKEN
        return self.parameters.block_size

    def max_blocks_for(self, block_size: int) -> int:
        """How many leading blocks of ``block_size`` characters to hash."""
        return self.parameters.max_prefix_blocks_to_match

    def match(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> PrefixMatch:
        block_size = self.block_size_for(endpoints)
        hashes = prefix_block_hashes(
            request.target_model,
            request.cache_salt,
            request.prompt_text,
            block_size,
            self.max_blocks_for(block_size),
        )
        result = PrefixMatch(hashes, block_size, self.index.match(hashes) if hashes else {})
        self._memo[(id(request), request.request_id)] = result
        if len(self._memo) > _MEMO_CAPACITY:
            self._memo.popitem(last=False)
        return result

    def record(self, request: InferenceRequest, result: SchedulingResult) -> None:
        """Record the request's blocks on the primary profile's first endpoint."""
        memo = self._memo.pop((id(request), request.request_id), None)
        primary = result.primary.endpoints[0]
        if memo is None:  # scheduled by a profile without this scorer: hash now
            memo = self.match(request, (primary,))
            self._memo.pop((id(request), request.request_id), None)
        if not memo.hashes:
            return
        endpoint_name = primary.endpoint.name
        matched = memo.matched_blocks_by_endpoint.get(endpoint_name, 0)
        self._metrics.record_prefix_match(matched * memo.block_size, len(memo.hashes) * memo.block_size)
        self.index.add(endpoint_name, memo.hashes)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.index.prune(live_endpoint_names)


class PrefixCacheScorer:
    """score = matched_blocks / total_blocks (0 for prompts shorter than one block)."""

    plugin_type = PREFIX_CACHE_SCORER_TYPE

    def __init__(self, matcher: PrefixMatcher, name: str = PREFIX_CACHE_SCORER_TYPE) -> None:
        self.name = name
        self.matcher = matcher
        self.parameters = matcher.parameters
        self._producer: PrefixMatchProducer | None = None  # prefixMatchInfoProducerName's, once bound

    def bind_producers(self, plugins: Mapping[str, Plugin]) -> None:
        name = self.parameters.prefix_match_info_producer_name
        if name is not None:
            self._producer = find_prefix_match_producer(plugins, name, name)

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        if self._producer is not None:
            info = self._producer.match_info(request, endpoints)
            return [info[state.endpoint.name].score for state in endpoints]
        match = self.matcher.match(request, endpoints)
        if not match.matched_blocks_by_endpoint:
            return [0.0] * len(endpoints)
        total = len(match.hashes)
        matched = match.matched_blocks_by_endpoint
        return [matched.get(state.endpoint.name, 0) / total for state in endpoints]

    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        if self._producer is None:  # a producer records the request itself
            self.matcher.record(request, result)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.matcher.prune(live_endpoint_names)

    def index_size(self) -> int:
        return self.matcher.index.size()


def create_prefix_cache_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrefixCacheScorer:
    params = PrefixCacheParameters.model_validate(parameters)
    return PrefixCacheScorer(PrefixMatcher(params, context.metrics), name)
