"""The block index: stores chain from parents, removals and clears drop entries, bounds hold."""

from __future__ import annotations

from picker.framework.kv_events import BlockRemoved, BlockStored
from picker.kvevents.block_index import KVBlockIndex, StoreOutcome
from picker.kvevents.block_keys import BlockKeyHasher

TOKENS = tuple(range(100, 132))  # 8 blocks of 4


def index(block_size: int = 4, max_keys: int = 1000, per_key: int = 10) -> KVBlockIndex:
    return KVBlockIndex(BlockKeyHasher(block_size), max_keys, per_key)


def stored(
    first: int, count: int, parent: int | None = None, tokens=TOKENS, size: int = 4, **kw
) -> BlockStored:
    hashes = tuple(range(first, first + count))
    start = (first - 1) * size if parent is not None else 0
    return BlockStored(hashes, parent, tokens[start : start + count * size], size, **kw)


def keys(tokens=TOKENS, lora=None, salt=None, size: int = 4) -> list[int]:
    return BlockKeyHasher(size).request_keys(tokens, lora, salt)


def test_a_stored_run_matches_the_request_prefix_it_covers() -> None:
    idx = index()
    assert idx.store("a", stored(1, 3)) is StoreOutcome.STORED
    assert idx.longest_prefix(keys()) == {"a": 3}


def test_a_continuation_chains_from_its_parent() -> None:
    idx = index()
    idx.store("a", stored(1, 2))
    assert idx.store("a", stored(3, 2, parent=2)) is StoreOutcome.STORED
    assert idx.longest_prefix(keys()) == {"a": 4}


def test_an_unknown_parent_is_skipped() -> None:
    idx = index()
    assert idx.store("a", stored(3, 2, parent=2)) is StoreOutcome.UNKNOWN_PARENT
    assert idx.longest_prefix(keys()) == {}


def test_longest_prefix_is_consecutive_from_the_first_block() -> None:
    idx = index()
    idx.store("a", stored(1, 4))
    idx.store("b", stored(1, 2))
    idx.remove("a", BlockRemoved((2,)))  # a hole at block 2: a's run stops at 1
    assert idx.longest_prefix(keys()) == {"a": 1, "b": 2}


def test_removal_and_clear_drop_entries() -> None:
    idx = index()
    idx.store("a", stored(1, 4))
    idx.store("b", stored(1, 4))
    idx.remove("a", BlockRemoved((3, 4, 999)))
    assert idx.longest_prefix(keys()) == {"a": 2, "b": 4}
    idx.clear("b")
    assert idx.longest_prefix(keys()) == {"a": 2}
    assert idx.blocks_held("b") == 0


def test_prune_drops_departed_endpoints() -> None:
    idx = index()
    idx.store("a", stored(1, 2))
    idx.store("b", stored(1, 2))
    assert idx.prune({"a"}) == ["b"]
    assert idx.longest_prefix(keys()) == {"a": 2}


def test_adapters_and_salts_key_apart() -> None:
    idx = index()
    idx.store("a", stored(1, 2, lora_name="sql"))
    idx.store("b", stored(1, 2, cache_salt="t1"))
    assert idx.longest_prefix(keys()) == {}
    assert idx.longest_prefix(keys(lora="sql")) == {"a": 2}
    assert idx.longest_prefix(keys(salt="t1")) == {"b": 2}


def test_server_blocks_may_be_a_multiple_of_the_index_block() -> None:
    idx = index(block_size=4)
    idx.store("a", stored(1, 2, size=8))  # 2 server blocks of 8 = 4 index keys
    assert idx.longest_prefix(keys()) == {"a": 4}
    idx.remove("a", BlockRemoved((2,)))
    assert idx.longest_prefix(keys()) == {"a": 2}
    assert index(block_size=3).store("a", stored(1, 1)) is StoreOutcome.BLOCK_SIZE_MISMATCH


def test_bounded_in_keys_and_holders() -> None:
    idx = index(max_keys=4, per_key=1)
    idx.store("a", stored(1, 8))
    assert idx.size() == 4 and idx.blocks_held("a") == 4  # the oldest keys went first
    small = index(per_key=1)
    small.store("a", stored(1, 2))
    small.store("b", stored(1, 2))
    assert small.longest_prefix(keys()) == {"a": 2}


def test_negative_token_ids_are_refused() -> None:
    event = BlockStored((1,), None, (-1, 2, 3, 4), 4)
    assert index().store("a", event) is StoreOutcome.BAD_TOKEN_ID
