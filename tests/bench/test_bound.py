"""The analytical prefix-cache bound on hand-checkable access patterns."""

from __future__ import annotations

import random

import pytest
from bench.bound import block_keys, prefix_cache_bound


def test_block_keys_chain_prefixes_and_drop_the_partial_block():
    a = block_keys([1, 2, 3, 4, 5, 6, 7], block_size=3)
    b = block_keys([1, 2, 3, 9, 9, 9], block_size=3)
    assert len(a) == 2 and len(b) == 2
    assert a[0] == b[0] and a[1] != b[1]
    # The same block after a different prefix is a different key.
    assert block_keys([0, 0, 0, 4, 5, 6], 3)[1] != a[1]


@pytest.mark.parametrize(("capacity", "expected"), [(1, 0.1), (2, 0.2), (4, 0.4), (8, 0.8), (100, 0.8)])
def test_two_alternating_groups_against_capacity(capacity, expected):
    group_a, group_b = list(range(16)), list(range(100, 116))
    bound = prefix_cache_bound([group_a, group_b] * 5, block_size=4, replicas=1, blocks_per_replica=capacity)
    assert bound.compulsory_hit_rate == pytest.approx(0.8)
    assert bound.hit_rate == pytest.approx(expected)


def test_capacity_is_pooled_across_replicas():
    prompts = [list(range(16)), list(range(100, 116))] * 5
    assert prefix_cache_bound(prompts, 4, replicas=2, blocks_per_replica=4).hit_rate == pytest.approx(0.8)


def test_unique_prompts_have_a_zero_bound():
    rng = random.Random(0)
    prompts = [[rng.randrange(10**9) for _ in range(64)] for _ in range(20)]
    bound = prefix_cache_bound(prompts, 16, 4, 1000)
    assert bound.hit_rate == 0 and bound.compulsory_hit_rate == 0


def test_bound_never_exceeds_lru_simulation_of_any_split():
    """A cheap check of the upper-bound claim: random routing over LRU caches never beats it."""
    rng = random.Random(4)
    contexts = [[rng.randrange(1000) for _ in range(32)] for _ in range(6)]
    prompts = [contexts[rng.randrange(6)] + [rng.randrange(1000) for _ in range(8)] for _ in range(200)]
    bound = prefix_cache_bound(prompts, block_size=8, replicas=2, blocks_per_replica=6)
    for trial in range(5):
        route = random.Random(trial)
        caches: list[list[int]] = [[], []]
        hits = 0
        for prompt in prompts:
            cache = caches[route.randrange(2)]
            for key in block_keys(prompt, 8):
                if key in cache:
                    hits += 1
                    cache.remove(key)
                cache.append(key)
                del cache[:-6]
        assert hits * 8 <= bound.capacity_hit_tokens


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="must all be >= 1"):
        prefix_cache_bound([[1]], block_size=0, replicas=1, blocks_per_replica=1)
