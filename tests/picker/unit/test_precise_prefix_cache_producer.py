"""``precise-prefix-cache-producer``: PrefixCacheMatchInfo from the servers' KV events, read by
``prefix-cache-scorer`` (``prefixMatchInfoProducerName``) and ``prefix-cache-affinity-filter``; llm-d-router
v0.10's precise guide shape."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from picker.config import ConfigError, load_config_text
from picker.config.builder import SchedulingSetup, build_scheduling
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import (
    BackgroundPlugin,
    EndpointPruner,
    PoolWatcher,
    PreRequest,
    ProfileResult,
    SchedulingResult,
)
from picker.framework.producers import PrefixCacheMatchInfo, PrefixMatchProducer
from picker.plugins import builtin_registry
from picker.plugins.kv_event_prefix_index import kv_event_parameters
from picker.plugins.precise_prefix_cache_producer import (
    PrecisePrefixCacheProducer,
    create_precise_prefix_cache_producer,
)
from picker.plugins.prefix_cache_scorer import PrefixCacheScorer

from tests.picker.kvevents.vllm_payloads import batch, block_removed
from tests.picker.tokenization.tiny_tokenizer import build_tiny_tokenizer
from tests.picker.unit.builders import endpoint_state, inference_request
from tests.picker.unit.linked_placements import linked_pair
from tests.picker.unit.test_precise_prefix_cache_scorer import PROMPT, publish

STATES = [endpoint_state(i) for i in range(3)]

# llm-d-router v0.10's precise prefix-cache guide: the producer owns the index, the generic scorer reads it.
GUIDE = """
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-producer
  parameters:
    tokenProcessorConfig:
      blockSizeTokens: 4
      hashSeed: "42"
    indexerConfig:
      kvBlockIndexConfig:
        inMemoryConfig: {size: 100000000, podCacheSize: 10}
    kvEventsConfig:
      topicFilter: "kv@"
      discoverPods: true
      podDiscoveryConfig: {socketPort: 5556, replaySocketPort: 5557}
    speculativeIndexing: false
    speculativeTTL: 2s
- type: prefix-cache-scorer
  parameters:
    prefixMatchInfoProducerName: precise-prefix-cache-producer
- type: prefix-cache-affinity-filter
  parameters:
    prefixMatchInfoProducerName: precise-prefix-cache-producer
    maxTTFTPenaltyMs: 0
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: prefix-cache-scorer
    weight: 3
  - pluginRef: max-score-picker
"""


def producer(plugin_context: PluginContext, **parameters) -> PrecisePrefixCacheProducer:
    parameters.setdefault("tokenProcessorConfig", {"blockSizeTokens": 4})
    return create_precise_prefix_cache_producer("precise-prefix-cache-producer", parameters, plugin_context)


def build(plugin_context: PluginContext, text: str = GUIDE) -> SchedulingSetup:
    return build_scheduling(load_config_text(text), builtin_registry(), plugin_context)


def remove(plugin: PrecisePrefixCacheProducer, endpoint: str, hashes: list[int], seq: int) -> None:
    indexer = plugin.events.indexer
    indexer.apply(endpoint, seq, indexer.decode(batch(block_removed(hashes))))


def test_plugin_is_a_registered_prefix_producer_owning_the_subscription(
    plugin_context: PluginContext,
) -> None:
    plugin = producer(plugin_context)
    for contract in (PrefixMatchProducer, PreRequest, EndpointPruner, PoolWatcher, BackgroundPlugin):
        assert isinstance(plugin, contract)
    assert "precise-prefix-cache-producer" in builtin_registry().types()


def test_events_give_match_info_per_endpoint(plugin_context: PluginContext) -> None:
    plugin = producer(plugin_context)
    publish(plugin.events, "e0", 4)
    publish(plugin.events, "e1", 2)
    info = plugin.match_info(inference_request(PROMPT), STATES)
    assert info == {
        "e0": PrefixCacheMatchInfo(4, 4, 4),
        "e1": PrefixCacheMatchInfo(2, 4, 4),
        "e2": PrefixCacheMatchInfo(
            0, 4, 4
        ),  # publishes nothing: no match (v0.10), no routing-history fallback
    }
    remove(plugin, "e0", [2], seq=1)  # the second block goes: only the first is a cached prefix
    assert plugin.match_info(inference_request(PROMPT, request_id="r-2"), STATES)["e0"].matched_blocks == 1


async def test_speculative_indexing_counts_a_routed_request_as_held(
    plugin_context: PluginContext, fake_clock: FakeClock
) -> None:
    plugin = producer(plugin_context, speculativeIndexing=True, speculativeTTL="2s")
    request = inference_request(PROMPT)
    assert plugin.match_info(request, STATES)["e2"].matched_blocks == 0
    plugin.pre_request(request, SchedulingResult({"default": ProfileResult((STATES[2],))}, "default"))
    assert plugin.match_info(inference_request(PROMPT, request_id="r-2"), STATES)["e2"].matched_blocks == 4
    await fake_clock.advance(3.0)  # no BlockStored came: the guess expires
    assert plugin.match_info(inference_request(PROMPT, request_id="r-3"), STATES)["e2"].matched_blocks == 0


def test_prefix_cache_scorer_through_the_producer_prefers_the_holder_until_it_evicts(
    plugin_context: PluginContext,
) -> None:
    setup = build(plugin_context)
    plugin = setup.plugins["precise-prefix-cache-producer"]
    assert isinstance(plugin, PrecisePrefixCacheProducer)
    publish(plugin.events, "e1", 4)
    publish(plugin.events, "e2", 1)
    scorer = setup.plugins["prefix-cache-scorer"]
    assert isinstance(scorer, PrefixCacheScorer)
    assert scorer.score(inference_request(PROMPT), STATES) == [0.0, 1.0, 0.25]
    picked = setup.scheduler.schedule(inference_request(PROMPT, request_id="r-2"), STATES)
    assert picked.primary.endpoints[0].endpoint.name == "e1"

    remove(plugin, "e1", [1], seq=1)  # e1 evicts the prompt's first block: no cached prefix left there
    assert scorer.score(inference_request(PROMPT, request_id="r-3"), STATES) == [0.0, 0.0, 0.25]
    picked = setup.scheduler.schedule(inference_request(PROMPT, request_id="r-4"), STATES)
    assert picked.primary.endpoints[0].endpoint.name == "e2"


def test_the_affinity_filter_reads_the_precise_producer(plugin_context: PluginContext) -> None:
    setup = build(plugin_context)
    plugin = setup.plugins["precise-prefix-cache-producer"]
    assert isinstance(plugin, PrecisePrefixCacheProducer)
    publish(plugin.events, "e1", 4)
    gate = setup.plugins["prefix-cache-affinity-filter"]
    kept = gate.filter(inference_request(PROMPT), STATES)  # type: ignore[attr-defined]
    assert [state.endpoint.name for state in kept] == ["e1"]


def test_the_guide_shape_loads_with_v0_10_names_and_the_tokenizer(
    plugin_context: PluginContext, tmp_path: Path
) -> None:
    document = yaml.safe_load(GUIDE)
    parameters = document["plugins"][0]["parameters"]
    parameters["tokenizer"] = {"path": str(build_tiny_tokenizer(tmp_path / "tokenizer"))}
    parameters["tokenProcessorConfig"] = {"blockSize": 64, "hashSeed": "42"}  # v0.10's deprecated alias
    text = yaml.safe_dump(document)
    setup = build(plugin_context, text)
    plugin = setup.plugins["precise-prefix-cache-producer"]
    assert isinstance(plugin, PrecisePrefixCacheProducer)
    assert (plugin.events.hasher.block_size, plugin.events.hasher.hash_seed) == (64, "42")
    assert plugin.parameters.speculative_ttl == 2.0
    assert plugin in setup.background_plugins and plugin in setup.pool_watchers
    # The deploy and local paths read the servers' publisher ports from the producer as from the scorer.
    events = kv_event_parameters(load_config_text(text))
    assert events is not None
    assert events.kv_events_config.pod_discovery_config.socket_port == 5556
    assert events.kv_events_config.pod_discovery_config.replay_socket_port == 5557


def test_a_scorer_naming_a_missing_or_wrong_producer_is_a_config_error(plugin_context: PluginContext) -> None:
    text = GUIDE.replace(
        "    prefixMatchInfoProducerName: precise-prefix-cache-producer\n- type: prefix-cache-affinity-filter",
        "    prefixMatchInfoProducerName: max-score-picker\n- type: prefix-cache-affinity-filter",
    )
    with pytest.raises(ConfigError) as error:
        build(plugin_context, text)
    assert [issue.path for issue in error.value.issues] == ["plugins[1].parameters"]
    assert "produces no prefix matches" in error.value.issues[0].message
    with pytest.raises(ConfigError, match=r"tokenProcessorConfig\.blockSizeToken"):
        build(plugin_context, GUIDE.replace("blockSizeTokens: 4", "blockSizeToken: 4"))


def test_a_sibling_deciders_speculative_entry_counts_here() -> None:
    """Two workers (or replicas) with the producer: what one routed, the other matches before any event."""
    plugins = [
        producer(
            PluginContext(clock=FakeClock(), rng=random.Random(seed), in_flight=InFlightTracker(), placements=link),
            speculativeIndexing=True,
        )
        for seed, link in enumerate(linked_pair())
    ]
    request = inference_request(PROMPT)
    plugins[0].match_info(request, STATES)
    plugins[0].pre_request(request, SchedulingResult({"default": ProfileResult((STATES[2],))}, "default"))
    assert plugins[1].match_info(inference_request(PROMPT, request_id="r-2"), STATES)["e2"].matched_blocks == 4
