from __future__ import annotations

import pytest
import xxhash
from picker.framework.context import NullPluginMetrics
from picker.framework.interfaces import ProfileResult, SchedulingResult
from picker.plugins.prefix_cache_scorer import (
    PrefixCacheParameters,
    PrefixCacheScorer,
    PrefixMatcher,
    create_prefix_cache_scorer,
)
from picker.plugins.prefix_hashing import prefix_block_hashes
from picker.plugins.prefix_index import PrefixIndex
from pydantic import ValidationError

from tests.picker.unit.builders import endpoint_state, inference_request

STATES = [endpoint_state(i) for i in range(3)]


def scorer(**parameters) -> PrefixCacheScorer:
    return PrefixCacheScorer(PrefixMatcher(PrefixCacheParameters.model_validate(parameters), NullPluginMetrics()))


def routed_to(state, request) -> SchedulingResult:
    return SchedulingResult({"default": ProfileResult((state,))}, "default")


def test_hash_chain_matches_the_documented_construction() -> None:
    prompt = "a" * 8 + "b" * 8 + "tail"
    seed = xxhash.xxh64_intdigest(b"modelsalt")
    first = xxhash.xxh64_intdigest(b"a" * 8 + seed.to_bytes(8, "little"))
    second = xxhash.xxh64_intdigest(b"b" * 8 + first.to_bytes(8, "little"))
    assert prefix_block_hashes("model", "salt", prompt, 8, 256) == [first, second]


@pytest.mark.parametrize(
    ("prompt", "block_size", "max_blocks", "expected_blocks"),
    [("x" * 63, 64, 256, 0), ("x" * 64, 64, 256, 1), ("x" * 200, 64, 256, 3), ("x" * 1000, 64, 4, 4)],
    ids=[
        "shorter than a block hashes nothing",
        "exactly one block",
        "trailing partial block ignored",
        "cut at maxPrefixBlocksToMatch",
    ],
)
def test_block_count(prompt: str, block_size: int, max_blocks: int, expected_blocks: int) -> None:
    assert len(prefix_block_hashes("m", "", prompt, block_size, max_blocks)) == expected_blocks


def test_model_and_salt_separate_equal_prompts() -> None:
    prompt = "same prompt " * 20
    base = prefix_block_hashes("m1", "", prompt, 16, 256)
    assert base != prefix_block_hashes("m2", "", prompt, 16, 256)
    assert base != prefix_block_hashes("m1", "tenant-a", prompt, 16, 256)
    assert base == prefix_block_hashes("m1", "", prompt, 16, 256)


def test_first_request_scores_zero_then_the_routed_endpoint_matches() -> None:
    plugin = scorer(blockSize=4)
    request = inference_request("abcdefghijklmnop", request_id="r1")
    assert plugin.score(request, STATES) == [0.0, 0.0, 0.0]
    plugin.pre_request(request, routed_to(STATES[1], request))
    follow_up = inference_request("abcdefghijklmnopqrst", request_id="r2")  # 5 blocks, first 4 shared
    assert plugin.score(follow_up, STATES) == pytest.approx([0.0, 0.8, 0.0])


def test_longer_shared_prefix_scores_higher() -> None:
    plugin = scorer(blockSize=4)
    short = inference_request("abcdWXYZ", request_id="s")
    long = inference_request("abcdefghQRST", request_id="l")
    plugin.score(short, STATES)
    plugin.pre_request(short, routed_to(STATES[0], short))
    plugin.score(long, STATES)
    plugin.pre_request(long, routed_to(STATES[2], long))
    scores = plugin.score(inference_request("abcdefghijkl", request_id="q"), STATES)
    assert scores == pytest.approx([1 / 3, 0.0, 2 / 3])


def test_block_size_comes_from_vllm_cache_config_times_four() -> None:
    plugin = scorer(blockSize=64)
    with_block_size = [endpoint_state(0, cache_block_size_tokens=2), endpoint_state(1)]
    assert plugin.matcher.block_size_for(with_block_size) == 8
    assert plugin.matcher.block_size_for([endpoint_state(1)]) == 64


def test_lru_evicts_oldest_and_reverse_index_follows() -> None:
    index = PrefixIndex(capacity_per_endpoint=2)
    index.add("e0", [1, 2])
    index.add("e0", [3])  # evicts 1
    assert index.match([1]) == {}
    assert index.match([2, 3]) == {"e0": 2}
    assert index.size() == 2


def test_touching_a_hash_keeps_it_recent() -> None:
    index = PrefixIndex(capacity_per_endpoint=2)
    index.add("e0", [1, 2])
    index.add("e0", [1])  # 1 is now most recent
    index.add("e0", [3])  # evicts 2
    assert index.match([1]) == {"e0": 1}
    assert index.match([2]) == {}


def test_matching_stops_at_the_first_block_nobody_holds() -> None:
    index = PrefixIndex(capacity_per_endpoint=10)
    index.add("e0", [1, 3])
    assert index.match([1, 2, 3]) == {"e0": 1}


def test_departed_endpoints_are_pruned_from_both_maps() -> None:
    plugin = scorer(blockSize=4)
    request = inference_request("abcdefgh", request_id="r")
    plugin.score(request, STATES)
    plugin.pre_request(request, routed_to(STATES[2], request))
    plugin.prune({"e0", "e1"})
    assert plugin.index_size() == 0
    assert plugin.score(inference_request("abcdefgh", request_id="r2"), STATES) == [0.0, 0.0, 0.0]


def test_v1_0_parameter_name_is_accepted(plugin_context) -> None:
    plugin = create_prefix_cache_scorer("p", {"hashBlockSize": 32}, plugin_context)
    assert plugin.matcher.parameters.block_size == 32


@pytest.mark.parametrize(
    "bad",
    [{"blockSize": 0}, {"blockSize": "big"}, {"lruCapacityPerServer": -1}, {"blocksize": 16}],
    ids=["zero block size", "non-numeric block size", "negative capacity", "misspelt key"],
)
def test_bad_parameters_are_rejected(plugin_context, bad) -> None:
    with pytest.raises(ValidationError):
        create_prefix_cache_scorer("p", bad, plugin_context)


def test_counts_follow_changing_holder_sets_along_the_chain() -> None:
    index = PrefixIndex(capacity_per_endpoint=10)
    index.add("e0", [1, 2, 3, 4])
    index.add("e1", [1, 2])
    index.add("e2", [2, 3])
    # block 1: {e0, e1}; block 2: {e0, e1, e2}; blocks 3: {e0, e2}; block 4: {e0}; block 5: nobody
    assert index.match([1, 2, 3, 4, 5]) == {"e0": 4, "e1": 2, "e2": 2}
