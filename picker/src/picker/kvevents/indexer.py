"""Applies endpoints' KV-event messages to the block index: frame checks, decoding, sequence numbers.

Per endpoint the indexer keeps the last applied sequence number. The next one applies; a jump asks the
caller to replay the missing batches first; a smaller one means the server restarted (its counter starts
again at 0): the endpoint's entries are dropped before applying. Every problem is counted by cause and
logged once per cause; nothing raises, so one bad publisher never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from picker.framework.context import PluginMetricsSink
from picker.framework.kv_events import AllBlocksCleared, BlockRemoved, BlockStored, EventBatch
from picker.kvevents.block_index import KVBlockIndex, StoreOutcome
from picker.kvevents.codec import KVEventDecodeError, decode_batch

logger = logging.getLogger(__name__)

WRONG_TOPIC = "wrong_topic"
MALFORMED = "malformed"
SEQUENCE_GAP = "sequence_gap"
SEQUENCE_RESET = "sequence_reset"
PUBLISHER_GONE = "publisher_gone"
UNKNOWN_ENDPOINT = "unknown_endpoint"
REPLAY_FAILED = "replay_failed"


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    topic: str
    seq: int
    batch: EventBatch


class KVEventIndexer:
    def __init__(self, index: KVBlockIndex, topic_filter: str, metrics: PluginMetricsSink | None) -> None:
        self.index = index
        self._topic_filter = topic_filter
        self._metrics = metrics
        self._last_seq: dict[str, int] = {}
        self._logged_causes: set[str] = set()

    # -- messages ---------------------------------------------------------------------------------
    def parse(self, frames: list[bytes]) -> ParsedMessage | None:
        """``[topic, seq, payload]`` -> the decoded message, or None (counted) when it is not one."""
        if len(frames) != 3 or len(frames[1]) != 8:
            self.report(MALFORMED, f"expected 3 frames [topic, 8-byte seq, payload], got {len(frames)}")
            return None
        try:
            topic = frames[0].decode("utf-8")
        except UnicodeDecodeError:
            self.report(WRONG_TOPIC, "topic is not UTF-8")
            return None
        if not topic.startswith(self._topic_filter):
            self.report(
                WRONG_TOPIC,
                f"topic {topic!r} does not start with {self._topic_filter!r}; set the server's "
                f"--kv-events-config topic to {self._topic_filter}<ip:port>@<model>",
            )
            return None
        batch = self.decode(frames[2])
        if batch is None:
            return None
        return ParsedMessage(topic, int.from_bytes(frames[1], "big"), batch)

    def decode(self, payload: bytes) -> EventBatch | None:
        try:
            return decode_batch(payload)
        except KVEventDecodeError as error:
            self.report(error.cause, str(error))
            return None

    def replay_start(self, endpoint: str, seq: int) -> int | None:
        """The first sequence number to replay before ``seq`` can apply, or None when it applies now.

        A first message with seq > 0 replays from 0 (the server published before the picker listened).
        A seq at or below the last applied one is a server restart: the endpoint's entries go first.
        """
        last = self._last_seq.get(endpoint)
        if last is None:
            return 0 if seq > 0 else None
        if seq == last + 1:
            return None
        if seq <= last:
            self.report(SEQUENCE_RESET, f"{endpoint}: sequence went back from {last} to {seq} (restart)")
            self.forget(endpoint)
            return 0 if seq > 0 else None
        self.report(SEQUENCE_GAP, f"{endpoint}: sequence jumped from {last} to {seq}; replaying")
        return last + 1

    def apply(self, endpoint: str, seq: int, batch: EventBatch) -> None:
        """Apply one batch unless it was applied already (replays overlap live messages)."""
        last = self._last_seq.get(endpoint)
        if last is not None and seq <= last:
            return
        self._last_seq[endpoint] = seq
        for event in batch.events:
            if isinstance(event, BlockStored):
                outcome = self.index.store(endpoint, event)
                if outcome is not StoreOutcome.STORED:
                    self.report(outcome.value, f"{endpoint}: BlockStored skipped ({outcome.value})")
                    continue
                self._count("BlockStored")
            elif isinstance(event, BlockRemoved):
                self.index.remove(endpoint, event)
                self._count("BlockRemoved")
            elif isinstance(event, AllBlocksCleared):
                self.index.clear(endpoint)
                self._count("AllBlocksCleared")

    # -- endpoint lifecycle -----------------------------------------------------------------------
    def is_publishing(self, endpoint: str) -> bool:
        return endpoint in self._last_seq

    def publishing_endpoints(self) -> frozenset[str]:
        return frozenset(self._last_seq)

    def publisher_lost(self, endpoint: str) -> None:
        if endpoint in self._last_seq:
            self.report(
                PUBLISHER_GONE, f"{endpoint}: KV-event publisher disconnected; its entries are dropped"
            )
        self.forget(endpoint)

    def forget(self, endpoint: str) -> None:
        self._last_seq.pop(endpoint, None)
        self.index.clear(endpoint)

    # -- problems ---------------------------------------------------------------------------------
    def report(self, cause: str, detail: str) -> None:
        if self._metrics is not None:
            self._metrics.record_kv_event_error(cause)
        if cause not in self._logged_causes:
            self._logged_causes.add(cause)
            logger.warning("KV events: %s (further %s problems are only counted)", detail, cause)

    def _count(self, event_type: str) -> None:
        if self._metrics is not None:
            self._metrics.record_kv_events(event_type, 1)
