"""The KV-event prefix index behind precise prefix routing, shared by ``precise-prefix-cache-producer`` and the
deprecated ``precise-prefix-cache-scorer`` (llm-d-router v0.10 composes the latter from the former).

:class:`KVEventPrefixIndex` owns the subscription to every endpoint's vLLM KV events (``BlockStored`` /
``BlockRemoved`` / ``AllBlocksCleared``), the index from block keys to the endpoints holding them, and the
tokenizer that cuts a request into the same keys; :meth:`KVEventPrefixIndex.match` gives per endpoint the
longest run of the request's blocks, from the first, that the endpoint holds. The parameter models are
llm-d's (``tokenProcessorConfig``, ``indexerConfig``, ``kvEventsConfig``, ``speculativeIndexing``,
``speculativeTTL``) plus the picker's in-process ``tokenizer``.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from picker.config.model import DurationSeconds, EndpointPickerConfig
from picker.framework.context import PluginContext
from picker.framework.registry import PluginParameters
from picker.framework.types import Endpoint, InferenceRequest
from picker.kvevents.block_index import KVBlockIndex
from picker.kvevents.block_keys import BlockKeyHasher
from picker.kvevents.indexer import KVEventIndexer
from picker.kvevents.request_keys import RequestKeyCache
from picker.kvevents.speculative_index import SpeculativeIndex
from picker.kvevents.stored_footprint import StoredFootprint
from picker.kvevents.subscriber import KVEventSubscriber, SubscriberSettings
from picker.tokenization.hub_download import download_tokenizer
from picker.tokenization.request_tokenizer import RequestTokenizer

# The plugin types that subscribe to the model servers' KV events (the deploy and local paths configure
# the servers' publishers from their kvEventsConfig and tokenizer).
PRECISE_PREFIX_CACHE_PRODUCER_TYPE = "precise-prefix-cache-producer"
PRECISE_PREFIX_CACHE_SCORER_TYPE = "precise-prefix-cache-scorer"
KV_EVENT_PLUGIN_TYPES = (PRECISE_PREFIX_CACHE_PRODUCER_TYPE, PRECISE_PREFIX_CACHE_SCORER_TYPE)


# Downloaded tokenizer files without tokenizer.cacheDir: the picker's one writable place (a read-only root).


class TokenProcessorConfig(PluginParameters):
    block_size_tokens: int = Field(
        default=16, ge=1, description="tokens per index key (server blocks: a multiple)"
    )
    hash_seed: str = ""
    block_size: int | None = Field(default=None, ge=1, description="deprecated: use blockSizeTokens")

    @model_validator(mode="after")
    def _accept_deprecated_name(self) -> TokenProcessorConfig:
        if self.block_size is not None and "block_size_tokens" not in self.model_fields_set:
            return self.model_copy(update={"block_size_tokens": self.block_size, "block_size": None})
        return self


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
            # No cacheDir: huggingface_hub's own cache (HF_HOME, ~/.cache/huggingface by default).
            path = download_tokenizer(self.model_name, self.revision, self.cache_dir)
        if path is None:
            return RequestTokenizer.approximate()
        return RequestTokenizer.from_directory(path, self.chat_template)


class KVEventIndexParameters(PluginParameters):
    """``precise-prefix-cache-producer``'s parameters (the scorer's extend them)."""

    token_processor_config: TokenProcessorConfig = Field(default_factory=TokenProcessorConfig)
    indexer_config: IndexerConfig = Field(default_factory=IndexerConfig)
    kv_events_config: KVEventsConfig = Field(default_factory=KVEventsConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    max_prefix_blocks_to_match: int = Field(default=2048, ge=1)
    speculative_indexing: bool = Field(
        default=False, description="count a routed request's blocks as held until its events can arrive"
    )
    speculative_ttl: DurationSeconds = Field(
        default=2.0, gt=0, alias="speculativeTTL", description="Go duration (2s) or seconds"
    )


@dataclass(frozen=True, slots=True)
class KVEventMatch:
    """One request against the index: the keys its server will store it under, per endpoint the longest
    cached run of its blocks, and its block count."""

    keys: list[int]
    matched_blocks: dict[str, int]
    total_blocks: int


class KVEventPrefixIndex:
    def __init__(
        self,
        parameters: KVEventIndexParameters,
        tokenizer: RequestTokenizer,
        context: PluginContext,
        footprint: StoredFootprint | None = None,
    ) -> None:
        self.parameters = parameters
        self.tokenizer = tokenizer
        token_config = parameters.token_processor_config
        memory = parameters.indexer_config.kv_block_index_config.in_memory_config
        self.hasher = BlockKeyHasher(token_config.block_size_tokens, token_config.hash_seed)
        self.index = KVBlockIndex(self.hasher, memory.size, memory.pod_cache_size)
        self._keys = RequestKeyCache(self.hasher)
        self._clock = context.clock
        events = parameters.kv_events_config
        self.speculative = (
            SpeculativeIndex(parameters.speculative_ttl) if parameters.speculative_indexing else None
        )
        # Where new content was stored recently, by the events (alike in every process), for a placement rule
        # that reads it; None: not kept.
        self.footprint = footprint
        self.indexer = KVEventIndexer(
            self.index, events.topic_filter, context.metrics, self.speculative, self.footprint
        )
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

    def match(self, request: InferenceRequest) -> KVEventMatch:
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
            return KVEventMatch([], {}, 0)
        if request.target_model in self.index.adapter_names:
            root = self.hasher.root(request.target_model, salt)
            chains.append(self._keys.keys(root, segments, chunk_tokens, limit))
        now_s = self._clock.now()
        matched: dict[str, int] = {}
        for keys in chains:
            runs = [self.index.longest_prefix(keys)]
            if self.speculative is not None:
                runs.append(self.speculative.longest_prefix(keys, now_s))
            for run in runs:
                for name, blocks in run.items():
                    if blocks > matched.get(name, 0):
                        matched[name] = blocks
        # The chain the server will store the request under: the adapter's when it is a known adapter.
        return KVEventMatch(chains[-1], matched, len(chains[0]))

    def routed(self, endpoint: str, keys: Sequence[int]) -> None:
        """A request with these keys went to ``endpoint`` (with speculative indexing: held until its TTL)."""
        if self.speculative is not None and keys:
            self.speculative.add(endpoint, keys, self._clock.now())

    def publishing_endpoints(self) -> frozenset[str]:
        return self.indexer.publishing_endpoints()

    def prune(self, live_endpoint_names: Set[str]) -> None:
        self.index.prune(live_endpoint_names)
        if self.speculative is not None:
            self.speculative.prune(live_endpoint_names)
        if self.footprint is not None:
            self.footprint.prune(live_endpoint_names)

    def endpoints_changed(self, added: Sequence[Endpoint], removed: Sequence[str]) -> None:
        for name in removed:
            self.subscriber.endpoint_removed(name)
        for endpoint in added:
            self.subscriber.endpoint_added(endpoint)

    async def run(self) -> None:
        await self.subscriber.run()

    def size(self) -> int:
        return self.index.size()


def request_tokenizer(parameters: KVEventIndexParameters, context: PluginContext) -> RequestTokenizer:
    """The configured tokenizer, or the approximate one when the context loads nothing external."""
    return parameters.tokenizer.load() if context.load_external else RequestTokenizer.approximate()


# Keys of the shared parameters (the scorer adds its own, dropped when reading the KV-event settings).
_INDEX_KEYS = frozenset(
    field.alias or name for name, field in KVEventIndexParameters.model_fields.items()
) | frozenset(KVEventIndexParameters.model_fields)


def kv_event_parameters(config: EndpointPickerConfig) -> KVEventIndexParameters | None:
    """The first KV-event plugin's parameters in `config` (``precise-prefix-cache-producer`` or the deprecated
    ``precise-prefix-cache-scorer``: its model servers must publish KV events on the ports they name), or
    None when the config routes on no events."""
    for plugin in config.plugins:
        if plugin.type in KV_EVENT_PLUGIN_TYPES:
            return KVEventIndexParameters.model_validate(
                {key: value for key, value in plugin.parameters.items() if key in _INDEX_KEYS}
            )
    return None
