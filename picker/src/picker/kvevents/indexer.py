"""Applies endpoints' KV-event messages to the block index: frame checks, decoding, sequence numbers.

Per endpoint the indexer keeps the last applied sequence number and the last one seen live. The next one
applies; a jump asks the caller to replay the missing batches first; a live one at or below the previous live
one means the server restarted (its counter starts again at 0): the endpoint's entries are dropped first. Every problem is counted by cause and
logged once per cause; nothing raises, so one bad publisher never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from picker.framework.context import PluginMetricsSink
from picker.framework.kv_events import AllBlocksCleared, BlockRemoved, BlockStored, EventBatch
from picker.kvevents.block_index import KVBlockIndex, StoreOutcome
from picker.kvevents.codec import KVEventDecodeError, decode_batch
from picker.kvevents.speculative_index import SpeculativeIndex
from picker.kvevents.stored_footprint import StoredFootprint

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
    def __init__(
        self,
        index: KVBlockIndex,
        topic_filter: str,
        metrics: PluginMetricsSink,
        speculative: SpeculativeIndex | None = None,
        footprint: StoredFootprint | None = None,
    ) -> None:
        self.index = index
        self._footprint = footprint  # blocks each endpoint stored recently, by its events
        self._speculative = speculative  # guesses the server's removals and clears overrule
        self._topic_filter = topic_filter
        self._metrics = metrics
        self._last_seq: dict[str, int] = {}  # last batch applied (live or replayed)
        self._live_seq: dict[str, int] = {}  # last batch seen on the live stream
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
        """For a live message: the first sequence number to replay before ``seq`` can apply, or None.

        A first message with seq > 0 replays from 0 (the server published before the picker listened). A
        live seq at or below the previous live one is a server restart (its counter starts again at 0): the
        endpoint's entries go first. A live seq already covered by a replay is a duplicate (``apply`` skips it).
        """
        previous_live = self._live_seq.get(endpoint)
        if previous_live is not None and seq <= previous_live:
            self.report(
                SEQUENCE_RESET, f"{endpoint}: sequence went back from {previous_live} to {seq} (restart)"
            )
            self.forget(endpoint)
        self._live_seq[endpoint] = seq
        applied = self._last_seq.get(endpoint)
        if applied is None:
            return 0 if seq > 0 else None
        if seq <= applied + 1:
            return None
        self.report(SEQUENCE_GAP, f"{endpoint}: sequence jumped from {applied} to {seq}; replaying")
        return applied + 1

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
                if self._footprint is not None:
                    self._footprint.stored(endpoint, len(event.token_ids) // self.index.hasher.block_size)
                self._count("BlockStored")
            elif isinstance(event, BlockRemoved):
                removed = self.index.remove(endpoint, event)
                if self._speculative is not None:
                    self._speculative.discard(endpoint, removed)
                self._count("BlockRemoved")
            elif isinstance(event, AllBlocksCleared):
                self.index.clear(endpoint)
                if self._speculative is not None:
                    self._speculative.forget(endpoint)
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
        self._live_seq.pop(endpoint, None)
        self.index.clear(endpoint)
        if self._speculative is not None:
            self._speculative.forget(endpoint)
        if self._footprint is not None:
            self._footprint.forget(endpoint)

    # -- problems ---------------------------------------------------------------------------------
    def report(self, cause: str, detail: str) -> None:
        self._metrics.record_kv_event_error(cause)
        if cause not in self._logged_causes:
            self._logged_causes.add(cause)
            logger.warning("KV events: %s (further %s problems are only counted)", detail, cause)

    def _count(self, event_type: str) -> None:
        self._metrics.record_kv_events(event_type, 1)
