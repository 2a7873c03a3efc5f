"""Collects the engine's KV-cache events during one engine step and publishes them as one batch."""

from __future__ import annotations

from sim.engine.kv_cache_events import KVCacheEvent
from sim.kv_events.publisher import ZmqEventPublisher


class KVEventBatcher:
    """The engine's event sink: ``record`` while a step runs, ``flush`` once it has (one batch per step).

    Events recorded before a publisher is attached (the replica is not serving yet) are dropped.
    """

    def __init__(self) -> None:
        self.publisher: ZmqEventPublisher | None = None
        self._pending: list[KVCacheEvent] = []

    def attach(self, publisher: ZmqEventPublisher) -> None:
        self.publisher = publisher

    def record(self, event: KVCacheEvent) -> None:
        self._pending.append(event)

    def flush(self) -> None:
        if not self._pending:
            return
        events, self._pending = self._pending, []
        if self.publisher is not None:
            self.publisher.publish(events)

    def close(self) -> None:
        self.flush()
        if self.publisher is not None:
            self.publisher.close()
            self.publisher = None
