"""The flow-control queue as a pure data structure (no asyncio, no clock).

Order: strict priority between levels (higher first); round-robin between fairness ids inside a level;
FIFO inside one fairness id. TTL expiry is found through a deadline heap with lazy deletion.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False, slots=True)
class QueuedRequest:
    """One waiting request. ``payload`` is opaque to the queue (the controller keeps its future there)."""

    request_id: str
    priority: int
    fairness_id: str
    size_bytes: int
    enqueued_at_s: float
    deadline_s: float | None  # None = no TTL
    payload: Any = None
    queued: bool = field(default=True)


class FlowQueue:
    """Bounded only by the caller (check :attr:`count` and :attr:`size_bytes` before :meth:`push`)."""

    def __init__(self) -> None:
        # priority -> fairness id -> FIFO; the OrderedDict order is the round-robin order of the level.
        self._bands: dict[int, OrderedDict[str, deque[QueuedRequest]]] = {}
        self._deadlines: list[tuple[float, int, QueuedRequest]] = []
        self._sequence = itertools.count()
        self.count = 0
        self.size_bytes = 0

    def push(self, entry: QueuedRequest) -> None:
        band = self._bands.setdefault(entry.priority, OrderedDict())
        flow = band.get(entry.fairness_id)
        if flow is None:
            flow = band[entry.fairness_id] = deque()
        flow.append(entry)
        entry.queued = True
        self.count += 1
        self.size_bytes += entry.size_bytes
        if entry.deadline_s is not None:
            heapq.heappush(self._deadlines, (entry.deadline_s, next(self._sequence), entry))

    def peek(self) -> QueuedRequest | None:
        """The next request to dispatch, without removing it."""
        if not self._bands:
            return None
        band = self._bands[max(self._bands)]
        first_flow = next(iter(band.values()))
        return first_flow[0]

    def pop(self) -> QueuedRequest | None:
        """Remove and return the next request; its fairness id moves to the back of its level."""
        if not self._bands:
            return None
        priority = max(self._bands)
        band = self._bands[priority]
        fairness_id, flow = next(iter(band.items()))
        entry = flow.popleft()
        if flow:
            band.move_to_end(fairness_id)
        else:
            del band[fairness_id]
            if not band:
                del self._bands[priority]
        self._account_removed(entry)
        return entry

    def remove(self, entry: QueuedRequest) -> bool:
        """Take a specific request out (client went away or TTL). False when it was no longer queued."""
        if not entry.queued:
            return False
        band = self._bands[entry.priority]
        flow = band[entry.fairness_id]
        flow.remove(entry)
        if not flow:
            del band[entry.fairness_id]
            if not band:
                del self._bands[entry.priority]
        self._account_removed(entry)
        return True

    def expired(self, now_s: float) -> list[QueuedRequest]:
        """Remove and return every queued request whose deadline is at or before ``now_s``."""
        due: list[QueuedRequest] = []
        while self._deadlines and self._deadlines[0][0] <= now_s:
            _, _, entry = heapq.heappop(self._deadlines)
            if self.remove(entry):
                due.append(entry)
        return due

    def flow_sizes(self) -> dict[tuple[str, int], int]:
        """Queued count per (fairness id, priority), for the queue-size gauge."""
        return {
            (fairness_id, priority): len(flow)
            for priority, band in self._bands.items()
            for fairness_id, flow in band.items()
        }

    def _account_removed(self, entry: QueuedRequest) -> None:
        entry.queued = False
        self.count -= 1
        self.size_bytes -= entry.size_bytes
