"""Sequence numbers, replays, restarts and bad messages, as the indexer applies endpoints' batches."""

from __future__ import annotations

import logging

import pytest
from picker.kvevents.block_index import KVBlockIndex
from picker.kvevents.block_keys import BlockKeyHasher
from picker.kvevents.indexer import KVEventIndexer

from tests.picker.kvevents.vllm_payloads import all_cleared, batch, block_removed, block_stored, frames

TOPIC = "kv@10.0.0.1:8000@base"
TOKENS = list(range(16))


class CountingMetrics:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.events: dict[str, int] = {}

    def record_prefix_match(self, matched_bytes: int, total_bytes: int) -> None: ...

    def record_kv_events(self, event_type: str, count: int) -> None:
        self.events[event_type] = self.events.get(event_type, 0) + count

    def record_kv_event_error(self, cause: str) -> None:
        self.errors.append(cause)

    def set_kv_event_fallback_endpoints(self, count: int) -> None: ...


@pytest.fixture
def metrics() -> CountingMetrics:
    return CountingMetrics()


@pytest.fixture
def indexer(metrics: CountingMetrics) -> KVEventIndexer:
    return KVEventIndexer(KVBlockIndex(BlockKeyHasher(4), 1000, 10), "kv@", metrics)


def keys() -> list[int]:
    return BlockKeyHasher(4).request_keys(TOKENS, None, None)


def deliver(indexer: KVEventIndexer, seq: int, *events) -> int | None:
    message = indexer.parse(frames(TOPIC, seq, batch(*events)))
    assert message is not None
    start = indexer.replay_start("e1", message.seq)
    indexer.apply("e1", message.seq, message.batch)
    return start


def test_in_order_batches_apply(indexer: KVEventIndexer, metrics: CountingMetrics) -> None:
    assert deliver(indexer, 0, block_stored([1, 2], TOKENS[:8])) is None
    assert deliver(indexer, 1, block_stored([3], TOKENS[8:12], parent=2)) is None
    assert indexer.index.longest_prefix(keys()) == {"e1": 3}
    assert indexer.is_publishing("e1")
    assert metrics.events == {"BlockStored": 2} and metrics.errors == []


def test_a_gap_asks_for_replay_from_the_first_missing(
    indexer: KVEventIndexer, metrics: CountingMetrics
) -> None:
    deliver(indexer, 0, block_stored([1], TOKENS[:4]))
    assert deliver(indexer, 4, block_removed([1])) == 1
    assert metrics.errors == ["sequence_gap"]


def test_a_first_message_after_missed_ones_replays_from_zero(indexer: KVEventIndexer) -> None:
    assert deliver(indexer, 7, all_cleared()) == 0


def test_replayed_batches_already_applied_are_skipped(indexer: KVEventIndexer) -> None:
    deliver(indexer, 0, block_stored([1], TOKENS[:4]))
    deliver(indexer, 1, block_removed([1]))
    replayed = indexer.decode(batch(block_stored([1], TOKENS[:4])))
    assert replayed is not None
    indexer.apply("e1", 0, replayed)  # an old batch again: must not resurrect block 1
    assert indexer.index.longest_prefix(keys()) == {}


def test_a_restart_drops_the_endpoints_entries(indexer: KVEventIndexer, metrics: CountingMetrics) -> None:
    deliver(indexer, 0, block_stored([1, 2], TOKENS[:8]))
    deliver(indexer, 1, block_stored([9], TOKENS[8:12], parent=2))
    assert deliver(indexer, 0, block_stored([5], TOKENS[:4])) is None  # seq back to 0: restarted
    assert indexer.index.longest_prefix(keys()) == {"e1": 1}
    assert "sequence_reset" in metrics.errors


def test_all_blocks_cleared_and_publisher_lost(indexer: KVEventIndexer, metrics: CountingMetrics) -> None:
    deliver(indexer, 0, block_stored([1, 2], TOKENS[:8]))
    deliver(indexer, 1, all_cleared())
    assert indexer.index.longest_prefix(keys()) == {}
    deliver(indexer, 2, block_stored([1, 2], TOKENS[:8]))
    indexer.publisher_lost("e1")
    assert indexer.index.longest_prefix(keys()) == {} and not indexer.is_publishing("e1")
    assert metrics.errors == ["publisher_gone"]


def test_bad_messages_are_counted_and_logged_once_per_cause(
    indexer: KVEventIndexer, metrics: CountingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="picker.kvevents.indexer")
    bad = [
        [b"kv@x", b"\x00"],  # two frames
        frames("metrics@x", 0, batch(all_cleared())),  # wrong topic
        frames("metrics@y", 1, batch(all_cleared())),
        frames(TOPIC, 0, b"\xc1"),  # not msgpack
        frames(TOPIC, 0, batch({"type": "Compacted"})),
    ]
    assert [indexer.parse(message) for message in bad] == [None] * 5
    assert metrics.errors == ["malformed", "wrong_topic", "wrong_topic", "malformed", "unknown_event_type"]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 3  # malformed, wrong_topic, unknown_event_type: once each
    assert any("kv@<ip:port>@<model>" in message for message in warnings)


def test_live_batches_a_replay_covered_are_duplicates_not_a_restart(
    indexer: KVEventIndexer, metrics: CountingMetrics
) -> None:
    for seq in range(3):  # replayed on connect
        replayed = indexer.decode(
            batch(block_stored([seq + 1], TOKENS[seq * 4 : seq * 4 + 4], parent=seq or None))
        )
        indexer.apply("e1", seq, replayed)
    assert deliver(indexer, 1, block_removed([2])) is None  # queued live copy of an already-replayed batch
    assert indexer.index.longest_prefix(keys()) == {"e1": 3}
    assert metrics.errors == []
