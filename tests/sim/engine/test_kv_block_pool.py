"""The KV block pool: hash chains, reference counts and least-recently-freed eviction."""

from __future__ import annotations

import pytest
from sim.engine.kv_block_pool import KVBlockPool, chain_block_hashes


def test_hash_chain_covers_the_whole_prefix() -> None:
    first = chain_block_hashes(list(range(48)), 16)
    changed_head = chain_block_hashes([999, *range(1, 48)], 16)
    changed_tail = chain_block_hashes([*range(47), 999], 16)
    assert len(first) == 3  # only full blocks are hashed
    assert all(a != b for a, b in zip(first, changed_head, strict=True))  # a change early changes all after
    assert first[:2] == changed_tail[:2] and first[2] != changed_tail[2]
    assert chain_block_hashes(list(range(48)), 16, "adapter") != first
    assert chain_block_hashes(list(range(15)), 16) == []


def test_cached_blocks_survive_release_until_evicted_oldest_first() -> None:
    pool = KVBlockPool(num_blocks=4, block_size=16)
    hashes_a = chain_block_hashes(list(range(32)), 16)
    hashes_b = chain_block_hashes(list(range(100, 132)), 16)
    blocks_a = pool.allocate(2)
    for block, block_hash in zip(blocks_a, hashes_a, strict=True):
        pool.register(block, block_hash)
    pool.release(blocks_a)
    blocks_b = pool.allocate(2)  # the two never-used blocks go first: no eviction yet
    assert pool.evictions == 0
    for block, block_hash in zip(blocks_b, hashes_b, strict=True):
        pool.register(block, block_hash)
    pool.release(blocks_b)
    assert pool.usage() == 0.0 and pool.num_cached_blocks == 4
    assert len(pool.longest_cached_prefix(hashes_a)) == 2
    pool.allocate(1)  # evicts a's tail block: a was freed first, and tails go before heads
    assert pool.evictions == 1
    assert len(pool.longest_cached_prefix(hashes_a)) == 1
    assert len(pool.longest_cached_prefix(hashes_b)) == 2


def test_shared_blocks_are_reference_counted() -> None:
    pool = KVBlockPool(num_blocks=2, block_size=16)
    hashes = chain_block_hashes(list(range(16)), 16)
    [block] = pool.allocate(1)
    pool.register(block, hashes[0])
    hits = pool.longest_cached_prefix(hashes)
    pool.acquire(hits)
    assert block.ref_count == 2 and pool.num_used_blocks == 1
    pool.release([block])
    assert pool.num_used_blocks == 1  # still held by the second user
    pool.release(hits)
    assert pool.num_used_blocks == 0 and pool.num_cached_blocks == 1


def test_prefix_caching_can_be_turned_off() -> None:
    pool = KVBlockPool(num_blocks=2, block_size=16, enable_prefix_caching=False)
    hashes = chain_block_hashes(list(range(16)), 16)
    [block] = pool.allocate(1)
    pool.register(block, hashes[0])
    pool.release([block])
    assert pool.longest_cached_prefix(hashes) == []


def test_overallocation_is_a_bug_not_a_silent_clamp() -> None:
    pool = KVBlockPool(num_blocks=1, block_size=16)
    with pytest.raises(RuntimeError, match="admission is broken"):
        pool.allocate(2)
