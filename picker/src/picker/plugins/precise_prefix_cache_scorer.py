"""``precise-prefix-cache-scorer``: prefix-cache affinity from what the model servers say they hold.

llm-d's precise prefix cache (its ``precise-prefix-cache-producer`` feeding a prefix scorer, composed here in
one plugin under llm-d's older type name): the producer subscribes to every endpoint's vLLM KV events
(``BlockStored`` / ``BlockRemoved`` / ``AllBlocksCleared``) and keeps an index from block keys to the endpoints
holding them; the scorer tokenizes the request like the server does and scores

    score(endpoint) = longest run of the request's blocks, from the first, that the endpoint holds
                      / the request's block count
    (with ``spill`` set: x saturatedMatchFactor for a saturated holder while some candidate is not saturated;
    with ``historyBelowMatch`` set and no endpoint holding that share of the request: routing history instead,
    and with ``coldPlacementWeight`` set and no history either: prefix-spill-scorer's footprint placement)

An endpoint that publishes no events (none yet, publisher gone, restarted and not replayed) is scored by the
approximate ``prefix-cache-scorer`` rule instead (matched / total of the request's first 256 blocks, against
where the picker sent earlier requests' first 256 blocks: an LRU of ``lruCapacityPerServer`` blocks per
endpoint, over the same block keys); the number of such endpoints is the
``inference_extension_kv_events_fallback_endpoints`` gauge.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from picker.config.model import EndpointPickerConfig
from picker.framework.context import PluginContext, PluginMetricsSink
from picker.framework.interfaces import SchedulingResult
from picker.framework.load import hot_endpoints
from picker.framework.registry import PluginParameters
from picker.framework.types import Endpoint, EndpointState, InferenceRequest
from picker.kvevents.block_index import KVBlockIndex
from picker.kvevents.block_keys import BlockKeyHasher
from picker.kvevents.indexer import KVEventIndexer
from picker.kvevents.request_keys import RequestKeyCache
from picker.kvevents.speculative_index import SpeculativeIndex
from picker.kvevents.subscriber import KVEventSubscriber, SubscriberSettings
from picker.plugins.placement_footprint import PlacementFootprint
from picker.plugins.prefix_index import PrefixIndex
from picker.plugins.prefix_spill_scorer import SpillParameters
from picker.tokenization.hub_download import download_tokenizer
from picker.tokenization.request_tokenizer import RequestTokenizer

PRECISE_PREFIX_CACHE_SCORER_TYPE = "precise-prefix-cache-scorer"
_PENDING_CAPACITY = 4096  # requests scored but not yet routed (a failed schedule never calls pre_request)
# Routing history keeps a request's first blocks only (4,096 tokens at 16 per block): enough to tell where a
# prefix went, at a fraction of the cost of recording every block of every request.
_HISTORY_BLOCKS = 256
# Downloaded tokenizer files without tokenizer.cacheDir: the picker's one writable place (a read-only root).
DEFAULT_TOKENIZER_CACHE = Path("/tmp/tokenizers")


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
    model_name: str | None = Field(
        default=None, min_length=1, description="Hugging Face model id whose tokenizer files to download"
    )
    revision: str | None = Field(default=None, min_length=1, description="the model's Hub revision")
    cache_dir: Path | None = Field(default=None, description="where downloaded tokenizer files are kept")
    chat_template: Path | None = Field(default=None, description="Jinja chat template file, as vLLM's flag")

    @model_validator(mode="after")
    def _one_source(self) -> TokenizerConfig:
        if self.path is not None and self.model_name is not None:
            raise ValueError("set tokenizer.path (files on disk) or tokenizer.modelName (download), not both")
        if self.model_name is None and (self.revision is not None or self.cache_dir is not None):
            raise ValueError("tokenizer.revision and tokenizer.cacheDir need tokenizer.modelName")
        return self

    def load(self) -> RequestTokenizer:
        """The configured tokenizer: files at ``path``, the Hub's for ``modelName``, else the simulator's."""
        path = self.path
        if self.model_name is not None:
            path = download_tokenizer(self.model_name, self.revision, self.cache_dir or DEFAULT_TOKENIZER_CACHE)
        if path is None:
            return RequestTokenizer.approximate()
        return RequestTokenizer.from_directory(path, self.chat_template)


class PrecisePrefixCacheParameters(PluginParameters):
    token_processor_config: TokenProcessorConfig = Field(default_factory=TokenProcessorConfig)
    indexer_config: IndexerConfig = Field(default_factory=IndexerConfig)
    kv_events_config: KVEventsConfig = Field(default_factory=KVEventsConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    max_prefix_blocks_to_match: int = Field(default=2048, ge=1)
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
    speculative_indexing: bool = Field(
        default=False, description="count a routed request's blocks as held until its events can arrive"
    )
    speculative_ttl: float = Field(default=2.0, gt=0, alias="speculativeTTL", description="seconds")
    cold_placement_weight: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="a prefix nobody holds and nothing was routed for goes where the least new content went "
        "(prefix-spill-scorer's rule; needs historyBelowMatch; 0: off)",
    )
    footprint_half_life_blocks: float = Field(
        default=4096.0,
        gt=0.0,
        description="new blocks placed pool-wide after which an endpoint's recent footprint counts half",
    )


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
        self._metrics: PluginMetricsSink = context.metrics
        token_config = parameters.token_processor_config
        memory = parameters.indexer_config.kv_block_index_config.in_memory_config
        self.hasher = BlockKeyHasher(token_config.block_size_tokens, token_config.hash_seed)
        self.index = KVBlockIndex(self.hasher, memory.size, memory.pod_cache_size)
        self._keys = RequestKeyCache(self.hasher)
        self._clock = context.clock
        # Per scored request: the keys its server will store it under, and each endpoint's cached run.
        self._routed_keys: OrderedDict[tuple[int, str], tuple[list[int], dict[str, int]]] = OrderedDict()
        self._footprint = PlacementFootprint(parameters.footprint_half_life_blocks)
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
        # Where the picker sent which blocks (the approximate scorers' routing history, over the same keys).
        self.history = PrefixIndex(parameters.lru_capacity_per_server)
        self._in_flight = context.in_flight

    # -- Scorer -----------------------------------------------------------------------------------
    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        publishing = self.indexer.publishing_endpoints()
        silent = [state for state in endpoints if state.endpoint.name not in publishing]
        self._metrics.set_kv_event_fallback_endpoints(len(silent))
        matched, total = self.match(request)
        if not total:
            return [0.0] * len(endpoints)
        # Nobody holds (enough of) it any more: go where it went before, so that a prefix evicted
        # everywhere comes back on one replica instead of wherever load points.
        cold_threshold = self.parameters.history_below_match
        cold = cold_threshold > 0 and max(matched.values(), default=0) < cold_threshold * total
        routed: dict[str, int] = {}
        routed_total = 1
        if silent or cold:
            history_keys = self._routed_keys[_request_key(request)][0][:_HISTORY_BLOCKS]
            routed, routed_total = self.history.match(history_keys), len(history_keys)
        if cold and not any(routed.values()) and self.parameters.cold_placement_weight > 0:
            # A new prefix: spread it over the caches rather than where load points this instant.
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
        # The chain the server will store the request under: the adapter's when it is a known adapter.
        self._routed_keys[_request_key(request)] = (chains[-1], matched)
        if len(self._routed_keys) > _PENDING_CAPACITY:
            self._routed_keys.popitem(last=False)
        return matched, len(chains[0])

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
        self._footprint.place(endpoint, len(keys) - matched.get(endpoint, 0))
        self.history.add(endpoint, keys[:_HISTORY_BLOCKS])
        if self._speculative is not None:
            self._speculative.add(endpoint, keys, self._clock.now())

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.history.prune(live_endpoint_names)
        self._footprint.prune(live_endpoint_names)
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
        return self.index.size() + self.history.size()


def _request_key(request: InferenceRequest) -> tuple[int, str]:
    # By identity and id: two in-flight requests may carry the same x-request-id.
    return (id(request), request.request_id)


def precise_parameters(config: EndpointPickerConfig) -> PrecisePrefixCacheParameters | None:
    """The first precise-prefix-cache-scorer's parameters in `config` (its model servers must publish KV
    events on the ports they name), or None when the config routes on no events."""
    for plugin in config.plugins:
        if plugin.type == PRECISE_PREFIX_CACHE_SCORER_TYPE:
            return PrecisePrefixCacheParameters.model_validate(plugin.parameters)
    return None


def create_precise_prefix_cache_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> PrecisePrefixCacheScorer:
    params = PrecisePrefixCacheParameters.model_validate(parameters)
    tokenizer = params.tokenizer.load() if context.load_external else RequestTokenizer.approximate()
    return PrecisePrefixCacheScorer(name, params, tokenizer, context)
