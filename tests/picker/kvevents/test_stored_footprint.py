"""StoredFootprint: blocks stored per endpoint by the events, halved every half-life stored pool-wide."""

from __future__ import annotations

import pytest
from picker.framework.context import NullPluginMetrics
from picker.kvevents.block_index import KVBlockIndex
from picker.kvevents.block_keys import BlockKeyHasher
from picker.kvevents.indexer import KVEventIndexer
from picker.kvevents.stored_footprint import StoredFootprint

from tests.picker.kvevents.vllm_payloads import batch, block_stored


def test_stores_add_and_decay_with_what_is_stored_pool_wide() -> None:
    footprint = StoredFootprint(half_life_blocks=10)
    footprint.stored("a", 10)
    assert footprint.get("a") == pytest.approx(10)
    footprint.stored("b", 10)  # 10 more blocks pool-wide: a's count halves
    assert footprint.get("a") == pytest.approx(5)
    assert footprint.get("b") == pytest.approx(10)
    footprint.stored("a", 0)  # nothing stored: nothing changes
    assert footprint.get("a") == pytest.approx(5)
    assert footprint.get("unknown") == 0.0


def test_the_figures_depend_on_the_events_not_on_when_they_are_read() -> None:
    read_often, read_once = StoredFootprint(8), StoredFootprint(8)
    for endpoint, blocks in [("a", 4), ("b", 6), ("a", 3), ("c", 9), ("b", 2)]:
        read_often.stored(endpoint, blocks)
        read_often.get("a"), read_often.get("b")
        read_once.stored(endpoint, blocks)
    for name in "abc":
        assert read_often.get(name) == pytest.approx(read_once.get(name))


def test_forget_and_prune() -> None:
    footprint = StoredFootprint(8)
    footprint.stored("a", 4)
    footprint.stored("b", 4)
    footprint.forget("a")
    assert footprint.get("a") == 0.0
    footprint.prune({"c"})
    assert footprint.get("b") == 0.0
    with pytest.raises(ValueError, match="half_life_blocks"):
        StoredFootprint(0)


def test_the_indexer_feeds_it_from_block_stored() -> None:
    footprint = StoredFootprint(1000)
    indexer = KVEventIndexer(
        KVBlockIndex(BlockKeyHasher(4), 1000, 10), "kv@", NullPluginMetrics(), footprint=footprint
    )
    indexer.apply("e0", 0, indexer.decode(batch(block_stored([1, 2], list(range(8))))))
    assert footprint.get("e0") == pytest.approx(2)  # two blocks of 4 tokens
    indexer.forget("e0")  # a restarted server holds nothing
    assert footprint.get("e0") == 0.0
