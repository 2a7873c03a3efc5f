"""``precise-prefix-cache-scorer``: longest cached prefix from KV events, approximate for silent endpoints."""

from __future__ import annotations

import random

import pytest
from picker.config.errors import ConfigError
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
    Scorer,
)
from picker.framework.types import EndpointState
from picker.plugins import builtin_registry
from picker.plugins.kv_event_prefix_index import KVEventPrefixIndex
from picker.plugins.precise_prefix_cache_scorer import (
    PrecisePrefixCacheScorer,
    create_precise_prefix_cache_scorer,
)
from picker.tokenization.approximate_tokenizer import ApproximateTokenizer
from pydantic import ValidationError

from tests.picker.kvevents.vllm_payloads import batch, block_removed, block_stored
from tests.picker.unit.builders import endpoint_state, inference_request
from tests.picker.unit.linked_placements import linked_pair

STATES = [endpoint_state(i) for i in range(4)]
PROMPT = " ".join("abcdefghijklmnopq")  # one token per letter
TOKENS = ApproximateTokenizer().encode(PROMPT)  # 17 tokens: 4 blocks of 4


def scorer(plugin_context: PluginContext, **parameters) -> PrecisePrefixCacheScorer:
    parameters.setdefault("tokenProcessorConfig", {"blockSizeTokens": 4})
    return create_precise_prefix_cache_scorer("precise", parameters, plugin_context)


def publish(
    plugin: PrecisePrefixCacheScorer | KVEventPrefixIndex, endpoint: str, blocks: int, seq: int = 0, **kw
) -> None:
    event = block_stored(list(range(1, blocks + 1)), TOKENS[: blocks * 4], **kw)
    plugin.indexer.apply(endpoint, seq, plugin.indexer.decode(batch(event)))


def test_plugin_implements_its_contracts(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context)
    for contract in (Scorer, PreRequest, EndpointPruner, PoolWatcher, BackgroundPlugin):
        assert isinstance(plugin, contract)
    assert "precise-prefix-cache-scorer" in builtin_registry().types()


@pytest.mark.parametrize(
    ("held_blocks", "expected"),
    [
        ({"e0": 4, "e1": 2, "e2": 0, "e3": 1}, [1.0, 0.5, 0.0, 0.25]),
        ({"e0": 0, "e1": 0, "e2": 0, "e3": 0}, [0.0, 0.0, 0.0, 0.0]),
        ({"e0": 1, "e1": 3, "e2": 3, "e3": 4}, [0.25, 0.75, 0.75, 1.0]),
    ],
    ids=["mixed", "nothing-cached", "ties"],
)
def test_score_is_the_cached_share_of_the_request_prefix(
    plugin_context: PluginContext, held_blocks: dict[str, int], expected: list[float]
) -> None:
    plugin = scorer(plugin_context)
    for endpoint, blocks in held_blocks.items():
        if blocks:
            publish(plugin, endpoint, blocks)
        else:  # publishing, holding nothing
            plugin.indexer.apply(endpoint, 0, plugin.indexer.decode(batch()))
    assert plugin.score(inference_request(PROMPT), STATES) == expected


def test_a_short_prompt_scores_zero(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context)
    publish(plugin, "e0", 1)
    assert plugin.score(inference_request("one"), STATES[:1]) == [0.0]


def test_adapter_requests_match_adapter_blocks_only(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context)
    publish(plugin, "e0", 4, lora_name="sql")
    publish(plugin, "e1", 4)
    assert plugin.score(inference_request(PROMPT, model="sql"), STATES[:2]) == [1.0, 1.0]
    assert plugin.score(inference_request(PROMPT, model="base", request_id="r-2"), STATES[:2]) == [0.0, 1.0]


def test_silent_endpoints_fall_back_to_routing_history(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context)
    publish(plugin, "e0", 2)
    first = inference_request(PROMPT, request_id="r-1")
    plugin.score(first, STATES[:2])
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[1],))}, "default"))
    scores = plugin.score(inference_request(PROMPT, request_id="r-2"), STATES[:2])
    assert scores[0] == 0.5  # from events
    assert scores[1] == 1.0  # e1 publishes nothing: the approximate index remembers routing it there


def test_a_departed_endpoint_is_forgotten(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context)
    publish(plugin, "e0", 4)
    plugin.endpoints_changed([], ["e0"])
    assert plugin.score(inference_request(PROMPT), STATES[:1]) == [0.0]
    assert not plugin.indexer.is_publishing("e0")


def test_parameters_use_llm_d_names_and_reject_typos(plugin_context: PluginContext) -> None:
    plugin = scorer(
        plugin_context,
        tokenProcessorConfig={"blockSizeTokens": 64, "hashSeed": "s"},
        indexerConfig={"kvBlockIndexConfig": {"inMemoryConfig": {"size": 10, "podCacheSize": 2}}},
        kvEventsConfig={
            "topicFilter": "kv@",
            "podDiscoveryConfig": {"socketPort": 5556, "replaySocketPort": 5557},
        },
    )
    assert plugin.hasher.block_size == 64 and plugin.hasher.hash_seed == "s"
    with pytest.raises(ValidationError, match="blockSizeToken"):
        scorer(plugin_context, tokenProcessorConfig={"blockSizeToken": 16})
    with pytest.raises(ValidationError, match="zmqEndpoint"):
        scorer(plugin_context, kvEventsConfig={"discoverPods": False})


def test_a_missing_tokenizer_is_a_config_error(plugin_context: PluginContext, tmp_path) -> None:
    from picker.config.builder import build_scheduling
    from picker.config.model import EndpointPickerConfig

    config = EndpointPickerConfig.model_validate(
        {
            "plugins": [
                {"type": "precise-prefix-cache-scorer", "parameters": {"tokenizer": {"path": str(tmp_path)}}}
            ]
        }
    )
    with pytest.raises(ConfigError, match=r"tokenizer\.json does not exist"):
        build_scheduling(config, builtin_registry(), plugin_context)


def test_spill_withdraws_affinity_from_a_saturated_holder(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context, spill={"queueDepthThreshold": 2})
    publish(plugin, "e0", 4)
    publish(plugin, "e1", 2)
    busy = [endpoint_state(0, waiting_queue_size=5), endpoint_state(1, waiting_queue_size=0)]
    assert plugin.score(inference_request(PROMPT), busy) == [0.0, 0.5]
    both_busy = [endpoint_state(0, waiting_queue_size=5), endpoint_state(1, waiting_queue_size=5)]
    assert plugin.score(inference_request(PROMPT, request_id="r-2"), both_busy) == [1.0, 0.5]


async def test_speculative_indexing_counts_routed_blocks_until_the_ttl(
    plugin_context: PluginContext, fake_clock
) -> None:
    plugin = scorer(plugin_context, speculativeIndexing=True, speculativeTTL=2.0)
    for state in STATES[:2]:
        plugin.indexer.apply(
            state.endpoint.name, 0, plugin.indexer.decode(batch())
        )  # both publish, hold nothing
    first = inference_request(PROMPT, request_id="r-1")
    assert plugin.score(first, STATES[:2]) == [0.0, 0.0]
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[1],))}, "default"))
    assert plugin.score(inference_request(PROMPT, request_id="r-2"), STATES[:2]) == [0.0, 1.0]
    await fake_clock.advance(2.5)  # no BlockStored came: the guess expires
    assert plugin.score(inference_request(PROMPT, request_id="r-3"), STATES[:2]) == [0.0, 0.0]
    without = scorer(plugin_context)
    assert without.parameters.speculative_indexing is False


def test_a_servers_removal_overrules_a_speculative_entry(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context, speculativeIndexing=True)
    publish(plugin, "e1", 4)
    first = inference_request(PROMPT, request_id="r-1")
    plugin.score(first, STATES[:2])
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[1],))}, "default"))
    plugin.indexer.apply("e1", 1, plugin.indexer.decode(batch(block_removed([3]))))  # the third block went
    plugin.indexer.apply("e0", 0, plugin.indexer.decode(batch()))
    assert plugin.score(inference_request(PROMPT, request_id="r-2"), STATES[:2]) == [0.0, 0.5]


def test_a_prefix_nobody_holds_goes_where_history_put_it(plugin_context: PluginContext) -> None:
    plugin = scorer(plugin_context, historyBelowMatch=0.25)
    for state in STATES[:2]:
        plugin.indexer.apply(
            state.endpoint.name, 0, plugin.indexer.decode(batch())
        )  # publishing, empty caches
    first = inference_request(PROMPT, request_id="r-1")
    plugin.score(first, STATES[:2])
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[1],))}, "default"))
    assert plugin.score(inference_request(PROMPT, request_id="r-2"), STATES[:2]) == [0.0, 1.0]
    publish(plugin, "e0", 2, seq=1)  # e0 now holds half: the events decide again
    assert plugin.score(inference_request(PROMPT, request_id="r-3"), STATES[:2]) == [0.5, 0.0]


def test_a_prefix_nobody_holds_or_was_sent_goes_where_the_least_new_content_went(
    plugin_context: PluginContext,
) -> None:
    plugin = scorer(plugin_context, historyBelowMatch=0.25, coldPlacementWeight=0.5)
    for state in STATES[:2]:
        plugin.indexer.apply(state.endpoint.name, 0, plugin.indexer.decode(batch()))
    first = inference_request(PROMPT, request_id="r-1")
    assert plugin.score(first, STATES[:2]) == [0.5, 0.5]  # nothing placed anywhere yet
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[0],))}, "default"))
    other = " ".join("qrstuvwxyzabcdefg")  # a different prefix of the same 4 blocks
    # e0 got 4 new blocks: (0 + 4) / (4 + 4) of the weight there, all of it on e1.
    assert plugin.score(inference_request(other, request_id="r-2"), STATES[:2]) == [0.25, 0.5]
    # The first prefix again: routing history, not footprint, places it.
    assert plugin.score(inference_request(PROMPT, request_id="r-3"), STATES[:2]) == [1.0, 0.0]


def test_a_prompt_sharing_only_its_first_block_with_history_is_still_a_new_prefix(
    plugin_context: PluginContext,
) -> None:
    """Unrelated chat prompts share the chat template's first block: history holding 1 of 8 blocks (below
    historyBelowMatch, like the caches) must not pull the request there and skip footprint placement."""
    plugin = scorer(plugin_context, historyBelowMatch=0.25, coldPlacementWeight=0.5)
    for state in STATES[:2]:
        plugin.indexer.apply(state.endpoint.name, 0, plugin.indexer.decode(batch()))
    first = inference_request(" ".join("abcdefghijklmnopqrstuvwxyz012345"), request_id="r-1")  # 8 blocks
    plugin.score(first, STATES[:2])
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[0],))}, "default"))
    unrelated = " ".join("abcd" + "zyxwvutsrqponmlkjihgfe543210")  # the same first block only
    # e0 got 8 new blocks: (0 + 8) / (8 + 8) of the weight there, all of it on e1.
    assert plugin.score(inference_request(unrelated, request_id="r-2"), STATES[:2]) == [0.25, 0.5]


def test_rendezvous_leaves_a_prompt_sharing_a_block_with_history_to_load() -> None:
    """Rendezvous is a hard pick: it keeps to prefixes nothing was routed for, and the one shared block scores
    as history (~0 everywhere), so the load scorer places the prompt."""
    plugin = rendezvous_scorer(0)
    first = inference_request(" ".join("abcdefghijklmnopqrstuvwxyz012345"), request_id="r-1")  # 8 blocks
    plugin.score(first, STATES)
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[0],))}, "default"))
    unrelated = " ".join("abcd" + "zyxwvutsrqponmlkjihgfe543210")
    assert plugin.score(inference_request(unrelated, request_id="r-2"), STATES) == [0.125, 0.0, 0.0, 0.0]


def rendezvous_scorer(
    seed: int, in_flight: InFlightTracker | None = None, **parameters
) -> PrecisePrefixCacheScorer:
    """A scorer of its own: another picker process (its own clock, rng, in-flight counts)."""
    context = PluginContext(
        clock=FakeClock(start_s=1000.0), rng=random.Random(seed), in_flight=in_flight or InFlightTracker()
    )
    plugin = scorer(context, historyBelowMatch=0.25, coldPlacement="rendezvous", **parameters)
    for state in STATES:
        plugin.indexer.apply(state.endpoint.name, 0, plugin.indexer.decode(batch()))  # publishing, empty
    return plugin


def test_two_picker_processes_place_a_new_prefix_on_the_same_endpoint() -> None:
    first, second = rendezvous_scorer(1), rendezvous_scorer(2)
    # Each process routed a different earlier prefix somewhere (state the other never sees): the footprint
    # rule would now send the next new prefix to different endpoints; rendezvous hashing does not.
    for plugin, earlier, endpoint in (
        (first, "qrstuvwxyzabcdefg", STATES[0]),
        (second, "zyxwvutsrqponmlkj", STATES[3]),
    ):
        request = inference_request(" ".join(earlier), request_id="earlier")
        plugin.score(request, STATES)
        plugin.pre_request(request, SchedulingResult({"default": ProfileResult((endpoint,))}, "default"))
    scores = [plugin.score(inference_request(PROMPT, request_id="new"), STATES) for plugin in (first, second)]
    assert scores[0] == scores[1]
    assert sorted(scores[0]) == [0.0, 0.0, 0.0, 1.0]
    # ... and the other process keeps sending the prefix there before any event for it arrives.
    chosen = STATES[scores[0].index(1.0)]
    first.pre_request(
        inference_request(PROMPT, request_id="new"),
        SchedulingResult({"default": ProfileResult((chosen,))}, "default"),
    )
    assert second.score(inference_request(PROMPT, request_id="next"), STATES) == scores[0]


def test_rendezvous_skips_a_saturated_endpoint_and_an_overfull_one() -> None:
    plugin = rendezvous_scorer(1, spill={"queueDepthThreshold": 2})
    cool = plugin.score(inference_request(PROMPT, request_id="r-1"), STATES)
    home = cool.index(1.0)
    busy = [endpoint_state(i, waiting_queue_size=5 if i == home else 0) for i in range(4)]
    vetoed = plugin.score(inference_request(PROMPT, request_id="r-2"), busy)
    assert vetoed[home] == 0.0 and sorted(vetoed) == [0.0, 0.0, 0.0, 1.0]
    # This process's own in-flight requests (another process has its own) do not veto: scrapes only.
    in_flight = InFlightTracker()
    for _ in range(8):
        in_flight.increment(STATES[home].endpoint.name)
    busy_here = rendezvous_scorer(2, in_flight, spill={"queueDepthThreshold": 2})
    assert busy_here.score(inference_request(PROMPT, request_id="r-2"), STATES) == cool
    # The home endpoint stored far more new content recently (by its events) than the others: skipped too.
    other = " ".join("zyxwvutsrqponmlkj")
    plugin.indexer.apply(
        STATES[home].endpoint.name,
        1,
        plugin.indexer.decode(
            batch(block_stored([9, 10, 11, 12], ApproximateTokenizer().encode(other)[:16]))
        ),
    )
    assert plugin.score(inference_request(PROMPT, request_id="r-3"), STATES)[home] == 0.0


def test_rendezvous_needs_history_below_match(plugin_context: PluginContext) -> None:
    with pytest.raises(ValidationError, match="historyBelowMatch"):
        scorer(plugin_context, coldPlacement="rendezvous")
    with pytest.raises(ValidationError, match="coldPlacement"):
        scorer(plugin_context, historyBelowMatch=0.25, coldPlacement="hashed")


def test_only_rendezvous_placement_keeps_the_event_fed_footprint(plugin_context: PluginContext) -> None:
    footprint_rule = scorer(plugin_context, historyBelowMatch=0.25, coldPlacementWeight=0.5)
    assert footprint_rule.events.footprint is None  # nothing counted per BlockStored for a rule that never reads it
    publish(footprint_rule, STATES[0].endpoint.name, 4)
    plugin = rendezvous_scorer(1)
    publish(plugin, STATES[0].endpoint.name, 4, seq=1)  # after the scorer's own empty batch 0
    footprint = plugin.events.footprint
    assert footprint is not None
    assert footprint.get(STATES[0].endpoint.name) == pytest.approx(4) and footprint.get(STATES[1].endpoint.name) == 0



def backlog_scorer(plugin_context: PluginContext, held_blocks: int) -> PrecisePrefixCacheScorer:
    """100 tokens/s, 50 ms: an endpoint is late when its estimate exceeds the soonest's by 5 tokens. e0 holds
    ``held_blocks`` of PROMPT's 4 (16 tokens), got PROMPT once (routing history) and then 32 tokens it lacked."""
    plugin = scorer(
        plugin_context,
        historyBelowMatch=0.25,
        prefillBacklog={"peakPrefillThroughput": 100, "maxTTFTPenaltyMs": 50},
    )
    plugin.indexer.apply("e1", 0, plugin.indexer.decode(batch()))
    if held_blocks:
        publish(plugin, "e0", held_blocks)
    else:
        plugin.indexer.apply("e0", 0, plugin.indexer.decode(batch()))
    on_e0 = SchedulingResult({"default": ProfileResult((STATES[0],))}, "default")
    first = inference_request(PROMPT, request_id="r-1")
    plugin.score(first, STATES[:2])
    plugin.pre_request(first, on_e0)
    for index, letters in enumerate(["qrstuvwxyzabcdefg", "zyxwvutsrqponmlkj"]):
        other = inference_request(" ".join(letters), request_id=f"miss-{index}")
        plugin.score(other, STATES[:2])
        plugin.pre_request(other, on_e0)
    return plugin


@pytest.mark.parametrize(
    ("held_blocks", "wait_s", "expected"),
    [
        (0, 0.0, [0.0, 1.0]),  # history names e0, 48 tokens behind (0.64 s vs 0.16 s on e1): e1
        (0, 0.45, [1.0, 0.0]),  # 3 tokens left on e0 (19 vs 16): within the penalty, history decides
        (4, 0.0, [1.0, 0.0]),  # e0 holds it: recomputing elsewhere is not this rule's to decide
        (1, 0.0, [0.25, 0.0]),  # e0 holds a quarter (historyBelowMatch): the events decide, kept
    ],
    ids=["history-late", "history-in-time", "held", "held-quarter"],
)
async def test_a_prefix_nobody_holds_skips_a_history_endpoint_that_would_answer_late(
    plugin_context: PluginContext, fake_clock: FakeClock, held_blocks: int, wait_s: float, expected: list[float]
) -> None:
    plugin = backlog_scorer(plugin_context, held_blocks)
    await fake_clock.advance(wait_s)
    assert plugin.score(inference_request(PROMPT, request_id="r-2"), STATES[:2]) == expected


def test_prefill_backlog_needs_history_below_match(plugin_context: PluginContext) -> None:
    with pytest.raises(ValidationError, match="historyBelowMatch"):
        scorer(plugin_context, prefillBacklog={"peakPrefillThroughput": 100})
    assert scorer(plugin_context).parameters.prefill_backlog is None  # off unless set


def linked_scorers(**parameters) -> tuple[PrecisePrefixCacheScorer, PrecisePrefixCacheScorer]:
    links = linked_pair()
    plugins = []
    for seed, link in enumerate(links):
        context = PluginContext(
            clock=FakeClock(start_s=1000.0), rng=random.Random(seed), in_flight=InFlightTracker(), placements=link
        )
        plugin = scorer(context, historyBelowMatch=0.25, coldPlacementWeight=0.5, **parameters)
        for state in STATES[:2]:
            plugin.indexer.apply(state.endpoint.name, 0, plugin.indexer.decode(batch()))  # publishing, empty
        plugins.append(plugin)
    return plugins[0], plugins[1]


def route(plugin: PrecisePrefixCacheScorer, prompt: str, request_id: str, state: EndpointState) -> None:
    request = inference_request(prompt, request_id=request_id)
    plugin.score(request, STATES[:2])
    plugin.pre_request(request, SchedulingResult({"default": ProfileResult((state,))}, "default"))


@pytest.mark.parametrize("speculative", [True, False])
def test_a_sibling_deciders_placement_counts_as_this_ones(speculative: bool) -> None:
    """Two workers (or replicas): what one placed, the other follows before any event arrives: by the shared
    speculative entry, else by the shared routing history; and its footprint counts for new prefixes."""
    first, second = linked_scorers(speculativeIndexing=speculative)
    route(first, PROMPT, "r-1", STATES[1])
    expected = [0.0, 1.0]
    assert second.score(inference_request(PROMPT, request_id="r-2"), STATES[:2]) == expected
    route(second, " ".join("qrstuvwxyzabcdefg"), "r-3", STATES[0])  # 4 new blocks on e0, by the second
    # A third new prefix: both see both placements (4 new blocks on each endpoint): level.
    third = " ".join("zyxwvutsrqponmlkj")
    level = pytest.approx([0.5, 0.5], abs=1e-3)  # the earlier placement decayed by 4 of 4,096 blocks
    assert first.score(inference_request(third, request_id="r-4"), STATES[:2]) == level
    assert second.score(inference_request(third, request_id="r-5"), STATES[:2]) == level


def test_without_sharing_the_other_decider_does_not_know() -> None:
    """The loss the sharing removes: a decider alone neither follows the other's placement nor counts it."""
    first = scorer(PluginContext(clock=FakeClock(), rng=random.Random(0), in_flight=InFlightTracker()),
                   historyBelowMatch=0.25, coldPlacementWeight=0.5)  # fmt: skip
    second = scorer(PluginContext(clock=FakeClock(), rng=random.Random(1), in_flight=InFlightTracker()),
                    historyBelowMatch=0.25, coldPlacementWeight=0.5)  # fmt: skip
    for plugin in (first, second):
        for state in STATES[:2]:
            plugin.indexer.apply(state.endpoint.name, 0, plugin.indexer.decode(batch()))
    route(first, PROMPT, "r-1", STATES[1])
    assert second.score(inference_request(PROMPT, request_id="r-2"), STATES[:2]) == [0.5, 0.5]


def test_a_sibling_deciders_placement_counts_in_the_prefill_backlog() -> None:
    """The prefill backlog estimates each endpoint's queue from every decider's placements, not only its own."""
    first, second = linked_scorers(prefillBacklog={"peakPrefillThroughput": 100, "maxTTFTPenaltyMs": 50})
    route(first, PROMPT, "r-1", STATES[1])
    name = STATES[1].endpoint.name
    assert first._backlog is not None and second._backlog is not None
    routed_tokens = first._backlog.tokens(name, 1000.0)
    assert routed_tokens > 0
    assert second._backlog.tokens(name, 1000.0) == routed_tokens


def kv_fit_scorer(plugin_context: PluginContext, held_blocks: int) -> PrecisePrefixCacheScorer:
    """kvBlockFit on (2 output blocks: PROMPT's 4 blocks need 6 free); e0 holds ``held_blocks`` of PROMPT and
    got it once (routing history names e0), at t = 1000 s; e1 publishes and holds nothing."""
    plugin = scorer(plugin_context, historyBelowMatch=0.25, kvBlockFit={"outputBlocks": 2})
    plugin.indexer.apply("e1", 0, plugin.indexer.decode(batch()))
    if held_blocks:
        publish(plugin, "e0", held_blocks)
    else:
        plugin.indexer.apply("e0", 0, plugin.indexer.decode(batch()))
    first = inference_request(PROMPT, request_id="r-1")
    plugin.score(first, STATES[:2])
    plugin.pre_request(first, SchedulingResult({"default": ProfileResult((STATES[0],))}, "default"))
    return plugin


def kv_states(e0_blocks: int | None, e0_usage: float, e1_blocks: int | None, scraped_s: float = 999.0):
    """e0 and e1 scraped at ``scraped_s`` (before r-1's placement at 1000 s unless later) with these block
    counts and KV usage (e1 idle)."""
    return [
        endpoint_state(0, num_gpu_blocks=e0_blocks, kv_cache_usage_ratio=e0_usage, updated_at_s=scraped_s),
        endpoint_state(1, num_gpu_blocks=e1_blocks, kv_cache_usage_ratio=0.0, updated_at_s=scraped_s),
    ]


@pytest.mark.parametrize(
    ("held_blocks", "states", "expected"),
    [
        # e0: 100 x 0.5 = 50 free, less r-1's 4 new + 2 output = 44 >= 6: history keeps it
        (0, kv_states(100, 0.5, 100), [1.0, 0.0]),
        # e0: 20 x 0.5 = 10 free, less r-1's 6 = 4 < 6; e1 has 100: it moves
        (0, kv_states(20, 0.5, 100), [0.0, 1.0]),
        # the same, but a scrape after r-1 counts it already: 10 free >= 6, stays
        (0, kv_states(20, 0.5, 100, scraped_s=1000.0), [1.0, 0.0]),
        # it fits nowhere (e1: 5 free): it waits where history put it
        (0, kv_states(20, 0.5, 5), [1.0, 0.0]),
        # e0's block count unknown (no num_gpu_blocks label): not judged
        (0, kv_states(None, 0.99, 100), [1.0, 0.0]),
        # e0 holds it all and does not fit it (6 free, less r-1's 0 new + 2 output = 4 < 6): a holder keeps
        # its affinity (moving would recompute the prefix elsewhere)
        (4, kv_states(12, 0.5, 100), [1.0, 0.0]),
    ],
    ids=["fits", "does-not-fit", "scraped-since", "fits-nowhere", "unknown-block-count", "held"],
)
def test_kv_block_fit_moves_a_prefix_nobody_holds_where_its_blocks_fit(
    plugin_context: PluginContext, held_blocks: int, states: list[EndpointState], expected: list[float]
) -> None:
    plugin = kv_fit_scorer(plugin_context, held_blocks)
    assert plugin.score(inference_request(PROMPT, request_id="r-2"), states) == expected


def test_a_sibling_deciders_placement_counts_against_free_blocks() -> None:
    """e1 has 40 x 0.5 = 20 free blocks by its scrape; after the first decider's placement there (6 blocks with
    the output's) 14 would be left, but the second decider's two placements since leave 2: the first decider
    sends PROMPT's next request (6 blocks) to e0, which fits it, although routing history names e1."""
    first, second = linked_scorers(kvBlockFit={"outputBlocks": 2})
    route(first, PROMPT, "r-1", STATES[1])  # history: e1
    for index, letters in enumerate(["qrstuvwxyzabcdefg", "zyxwvutsrqponmlkj"]):
        route(second, " ".join(letters), f"s-{index}", STATES[1])
    states = [
        endpoint_state(0, num_gpu_blocks=40, kv_cache_usage_ratio=0.0, updated_at_s=999.0),
        endpoint_state(1, num_gpu_blocks=40, kv_cache_usage_ratio=0.5, updated_at_s=999.0),
    ]
    # 20 - 3 x 6 = 2 < 6 on e1 (r-1's placement and the sibling's two); e0 fits: the prefix moves.
    assert first.score(inference_request(PROMPT, request_id="r-2"), states) == [1.0, 0.0]


def test_kv_block_fit_needs_history_below_match(plugin_context: PluginContext) -> None:
    with pytest.raises(ValidationError, match="historyBelowMatch"):
        scorer(plugin_context, kvBlockFit={})
    assert scorer(plugin_context).parameters.kv_block_fit is None  # off unless set
