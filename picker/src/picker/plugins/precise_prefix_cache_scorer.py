"""``precise-prefix-cache-scorer``: prefix-cache affinity from what the model servers say they hold.

llm-d's precise prefix cache (its ``precise-prefix-cache-producer`` feeding a prefix scorer, composed here in
one plugin under llm-d's older type name): the producer subscribes to every endpoint's vLLM KV events
(``BlockStored`` / ``BlockRemoved`` / ``AllBlocksCleared``) and keeps an index from block keys to the endpoints
holding them; the scorer tokenizes the request like the server does and scores

    score(endpoint) = longest run of the request's blocks, from the first, that the endpoint holds
                      / the request's block count
    (with ``spill`` set: x saturatedMatchFactor for a saturated holder while some candidate is not saturated;
    with ``historyBelowMatch`` set and no endpoint holding that share of the request: routing history instead)

An endpoint that publishes no events (none yet, publisher gone, restarted and not replayed) is scored by the
approximate ``prefix-cache-scorer`` rule from routing history instead; the number of such endpoints is the
``inference_extension_kv_events_fallback_endpoints`` gauge.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from picker.framework.context import PluginContext, PluginMetricsSink
from picker.framework.interfaces import SchedulingResult
from picker.framework.registry import PluginParameters
from picker.framework.types import Endpoint, EndpointState, InferenceRequest
from picker.kvevents.block_index import KVBlockIndex
from picker.kvevents.block_keys import BlockKeyHasher
from picker.kvevents.indexer import KVEventIndexer
from picker.kvevents.request_keys import RequestKeyCache
from picker.kvevents.speculative_index import SpeculativeIndex
from picker.kvevents.subscriber import KVEventSubscriber, SubscriberSettings
from picker.plugins._load import hot_endpoints
from picker.plugins.prefix_cache_scorer import PrefixCacheParameters, PrefixMatcher
from picker.tokenization.request_tokenizer import RequestTokenizer

PRECISE_PREFIX_CACHE_SCORER_TYPE = "precise-prefix-cache-scorer"
_PENDING_CAPACITY = 4096  # requests scored but not yet routed (a failed schedule never calls pre_request)


class TokenProcessorConfig(PluginParameters):
    block_size_tokens: int = Field(
        default=16, ge=1, description="tokens per index key (server blocks: a multiple)"
    )
    hash_seed: str = ""


class InMemoryConfig(PluginParameters):
    size: int = Field(default=1_000_000, ge=1, description="most block keys indexed")
    pod_cache_size: int = Field(default=10, ge=1, description="most endpoints remembered per key")


class KVBlockIndexConfig(PluginParameters):
    in_memory_config: InMemoryConfig = Field(default_factory=InMemoryConfig)


class IndexerConfig(PluginParameters):
    kv_block_index_config: KVBlockIndexConfig = Field(default_factory=KVBlockIndexConfig)


class PodDiscoveryConfig(PluginParameters):
    socket_port: int = Field(default=5557, ge=1, le=65535)
    replay_socket_port: int = Field(default=0, ge=0, le=65535, description="0: no replay")


class KVEventsConfig(PluginParameters):
    zmq_endpoint: str = Field(default="", description="set: bind a SUB here for servers to connect to")
    topic_filter: str = "kv@"
    discover_pods: bool = True
    pod_discovery_config: PodDiscoveryConfig = Field(default_factory=PodDiscoveryConfig)
    replay_timeout: float = Field(default=2.0, gt=0, description="seconds to wait for a replay's end")
    replay_cooldown: float = Field(default=30.0, ge=0, description="seconds between replays per endpoint")

    @model_validator(mode="after")
    def _one_mode(self) -> KVEventsConfig:
        if not self.zmq_endpoint and not self.discover_pods:
            raise ValueError("set zmqEndpoint (servers connect to the picker) or discoverPods: true")
        return self


class TokenizerConfig(PluginParameters):
    path: Path | None = Field(
        default=None, description="directory with tokenizer.json (+ tokenizer_config.json); none: simulator's"
    )
    chat_template: Path | None = Field(default=None, description="Jinja chat template file, as vLLM's flag")


class SpillConfig(PluginParameters):
    """``prefix-spill-scorer``'s rule on precise matches: a saturated holder loses its affinity while some
    candidate has headroom, so a hot prefix moves to one more replica instead of queueing at its home."""

    queue_depth_threshold: int = Field(default=2, ge=1)
    kv_cache_util_threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    saturated_match_factor: float = Field(default=0.0, ge=0.0, le=1.0)


class PrecisePrefixCacheParameters(PluginParameters):
    token_processor_config: TokenProcessorConfig = Field(default_factory=TokenProcessorConfig)
    indexer_config: IndexerConfig = Field(default_factory=IndexerConfig)
    kv_events_config: KVEventsConfig = Field(default_factory=KVEventsConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    max_prefix_blocks_to_match: int = Field(default=2048, ge=1)
    fallback: PrefixCacheParameters = Field(
        default_factory=PrefixCacheParameters, description="approximate scoring for endpoints without events"
    )
    spill: SpillConfig | None = Field(default=None, description="off unless set")
    history_below_match: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="below this best cached share, every endpoint scores from routing history (0: off)",
    )
    speculative_indexing: bool = Field(
        default=False, description="count a routed request's blocks as held until its events can arrive"
    )
    speculative_ttl: float = Field(default=2.0, gt=0, alias="speculativeTTL", description="seconds")


class PrecisePrefixCacheScorer:
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
        self._metrics: PluginMetricsSink | None = context.metrics
        token_config = parameters.token_processor_config
        memory = parameters.indexer_config.kv_block_index_config.in_memory_config
        self.hasher = BlockKeyHasher(token_config.block_size_tokens, token_config.hash_seed)
        self.index = KVBlockIndex(self.hasher, memory.size, memory.pod_cache_size)
        self._keys = RequestKeyCache(self.hasher)
        self._clock = context.clock
        self._routed_keys: OrderedDict[tuple[int, str], list[int]] = OrderedDict()
        events = parameters.kv_events_config
        self._speculative = (
            SpeculativeIndex(parameters.speculative_ttl) if parameters.speculative_indexing else None
        )
        self.indexer = KVEventIndexer(self.index, events.topic_filter, context.metrics, self._speculative)
        self.subscriber = KVEventSubscriber(
            self.indexer,
            SubscriberSettings(
                bind_endpoint=events.zmq_endpoint or None,
                socket_port=events.pod_discovery_config.socket_port,
                replay_socket_port=events.pod_discovery_config.replay_socket_port,
                replay_timeout_s=events.replay_timeout,
                replay_cooldown_s=events.replay_cooldown,
            ),
            context.clock.now,
        )
        self.fallback = PrefixMatcher(parameters.fallback, context.metrics)
        self._in_flight = context.in_flight
        self._fallback_in_use = True

    # -- Scorer -----------------------------------------------------------------------------------
    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        publishing = self.indexer.publishing_endpoints()
        silent = [state for state in endpoints if state.endpoint.name not in publishing]
        if self._metrics is not None:
            self._metrics.set_kv_event_fallback_endpoints(len(silent))
        matched, total = self.match(request)
        # Nobody holds (enough of) it any more: go where it went before, so that a prefix evicted
        # everywhere comes back on one replica instead of wherever load points.
        cold_threshold = self.parameters.history_below_match
        cold = cold_threshold > 0 and total > 0 and max(matched.values(), default=0) < cold_threshold * total
        self._fallback_in_use = bool(silent) or cold_threshold > 0
        approximate = self._fallback_scores(request, endpoints) if silent or cold else {}
        scores = []
        for state in endpoints:
            name = state.endpoint.name
            if name in publishing and not cold:
                scores.append(matched.get(name, 0) / total if total else 0.0)
            else:
                scores.append(approximate.get(name, 0.0))
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

    def match(self, request: InferenceRequest) -> tuple[dict[str, int], int]:
        """Per endpoint the longest cached run of the request's blocks, and the request's block count.

        The request names a base model or an adapter, which the picker cannot tell apart: when some server
        stored blocks under an adapter of that name, both chains are looked up (an adapter's blocks are keyed
        by its name, the base model's by none) and the longer wins. With speculative indexing, blocks of
        requests routed in the last ``speculativeTTL`` count as held by their endpoint.
        """
        segments = self.tokenizer.segments(request)
        limit = self.parameters.max_prefix_blocks_to_match
        salt = request.cache_salt or None
        chunk_tokens = self.tokenizer.chunk_tokens
        chains = [self._keys.keys(self.hasher.root(None, salt), segments, chunk_tokens, limit)]
        if not chains[0]:
            return {}, 0
        if request.target_model in self.index.adapter_names:
            root = self.hasher.root(request.target_model, salt)
            chains.append(self._keys.keys(root, segments, chunk_tokens, limit))
        now_s = self._clock.now()
        matched: dict[str, int] = {}
        for keys in chains:
            runs = [self.index.longest_prefix(keys)]
            if self._speculative is not None:
                runs.append(self._speculative.longest_prefix(keys, now_s))
            for run in runs:
                for name, blocks in run.items():
                    if blocks > matched.get(name, 0):
                        matched[name] = blocks
        if self._speculative is not None:
            self._routed_keys[(id(request), request.request_id)] = chains[-1]  # the adapter's, if any
            if len(self._routed_keys) > _PENDING_CAPACITY:
                self._routed_keys.popitem(last=False)
        return matched, len(chains[0])

    def _fallback_scores(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> dict[str, float]:
        match = self.fallback.match(request, endpoints)
        total = len(match.hashes)
        if not total:
            return {}
        return {name: blocks / total for name, blocks in match.matched_blocks_by_endpoint.items()}

    # -- lifecycle hooks --------------------------------------------------------------------------
    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        if self._speculative is not None:
            keys = self._routed_keys.pop((id(request), request.request_id), None)
            if keys:
                self._speculative.add(result.primary.endpoints[0].endpoint.name, keys, self._clock.now())
        # Routing history only matters while some endpoint is scored from it (hashing it costs a prompt pass).
        if self._fallback_in_use:
            self.fallback.record(request, result)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.fallback.prune(live_endpoint_names)
        self.index.prune(live_endpoint_names)
        if self._speculative is not None:
            self._speculative.prune(live_endpoint_names)

    def endpoints_changed(self, added: Sequence[Endpoint], removed: Sequence[str]) -> None:
        for name in removed:
            self.subscriber.endpoint_removed(name)
        for endpoint in added:
            self.subscriber.endpoint_added(endpoint)

    async def run_in_background(self) -> None:
        await self.subscriber.run()

    def index_size(self) -> int:
        return self.index.size() + self.fallback.index.size()


def create_precise_prefix_cache_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrecisePrefixCacheScorer:
    params = PrecisePrefixCacheParameters.model_validate(parameters)
    path = params.tokenizer.path
    tokenizer = (
        RequestTokenizer.from_directory(path, params.tokenizer.chat_template)
        if path is not None
        else RequestTokenizer.approximate()
    )
    return PrecisePrefixCacheScorer(name, params, tokenizer, context)
