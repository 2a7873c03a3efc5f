"""Flow control: requests wait in the picker, not at saturated model servers, and leave in priority order.

``acquire`` returns at once when nothing is queued and the request's candidates have capacity; otherwise the
request queues and is dispatched by :meth:`FlowController.pump` once its candidates have capacity again.
One dispatch per pump: the dispatched request is scheduled (and counted in flight) before the next
capacity check, so a burst cannot all pass on one stale reading. Outcomes map to HTTP in ``errors.py``:
queue full -> 429, TTL expiry -> 503; a cancelled waiter is simply removed.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import Protocol

from picker.config.model import FlowControlConfig
from picker.errors import ErrorCode, PickerError
from picker.flowcontrol.flow_queue import FlowQueue, QueuedRequest
from picker.framework.clock import Clock
from picker.framework.types import InferenceRequest

CapacityCheck = Callable[[], bool]


class FlowOutcome(enum.StrEnum):
    """Low-cardinality outcome label (the EPP's QueueOutcome names)."""

    DISPATCHED = "Dispatched"
    REJECTED_CAPACITY = "RejectedCapacity"
    EVICTED_TTL = "EvictedTTL"
    EVICTED_CONTEXT_CANCELLED = "EvictedContextCancelled"


class FlowControlMetricsSink(Protocol):
    def record_flow_outcome(self, fairness_id: str, priority: int, outcome: str, waited_s: float) -> None: ...

    def set_flow_queue_sizes(self, sizes: dict[tuple[str, int], int]) -> None: ...


class NullFlowControlMetrics:
    """Records nothing: the sink of a flow controller built without a picker's metrics (tests)."""

    def record_flow_outcome(self, fairness_id: str, priority: int, outcome: str, waited_s: float) -> None:
        pass

    def set_flow_queue_sizes(self, sizes: dict[tuple[str, int], int]) -> None:
        pass


class FlowController:
    """Owns the queue, the waiters' futures and TTL expiry. Single event loop."""

    def __init__(
        self, config: FlowControlConfig, clock: Clock, metrics: FlowControlMetricsSink | None = None
    ) -> None:
        self.config = config
        self._clock = clock
        self._metrics: FlowControlMetricsSink = metrics if metrics is not None else NullFlowControlMetrics()
        self._queue = FlowQueue()

    @property
    def queued(self) -> int:
        return self._queue.count

    async def acquire(self, request: InferenceRequest, has_capacity: CapacityCheck) -> None:
        """Return when ``request`` may be scheduled.

        Raises:
            PickerError: RESOURCE_EXHAUSTED when the queue is full, SERVICE_UNAVAILABLE when the TTL expires.
            asyncio.CancelledError: the caller went away; the entry has been removed from the queue.
        """
        if self._queue.count == 0 and has_capacity():
            self._record(request.fairness_id, request.priority, FlowOutcome.DISPATCHED, 0.0)
            return
        if (
            self._queue.count >= self.config.max_queued_requests
            or self._queue.size_bytes + request.body_size_bytes > self.config.max_queued_bytes
        ):
            self._record(request.fairness_id, request.priority, FlowOutcome.REJECTED_CAPACITY, 0.0)
            raise PickerError(ErrorCode.RESOURCE_EXHAUSTED, "flow control queue is full")
        now_s = self._clock.now()
        ttl_s = self.config.request_ttl
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = QueuedRequest(
            request_id=request.request_id,
            priority=request.priority,
            fairness_id=request.fairness_id,
            size_bytes=request.body_size_bytes,
            enqueued_at_s=now_s,
            deadline_s=now_s + ttl_s if ttl_s > 0 else None,
            payload=(future, has_capacity),
        )
        self._queue.push(entry)
        self._publish_sizes()
        self.pump()
        try:
            await future
        except asyncio.CancelledError:
            if self._queue.remove(entry):
                self._record(
                    entry.fairness_id,
                    entry.priority,
                    FlowOutcome.EVICTED_CONTEXT_CANCELLED,
                    self._waited(entry),
                )
                self._publish_sizes()
            elif future.done() and not future.cancelled() and future.exception() is None:
                self.pump()  # it was dispatched, but will not be scheduled: let the next one go
            raise

    def pump(self) -> None:
        """Expire overdue entries, then dispatch the head if its candidates have capacity (head-of-line:
        a lower level never overtakes a blocked higher one)."""
        changed = False
        for entry in self._queue.expired(self._clock.now()):
            future, _ = entry.payload
            if not future.done():
                future.set_exception(
                    PickerError(ErrorCode.SERVICE_UNAVAILABLE, "request timed out in the flow control queue")
                )
            self._record(entry.fairness_id, entry.priority, FlowOutcome.EVICTED_TTL, self._waited(entry))
            changed = True
        head = self._queue.peek()
        if head is not None:
            future, has_capacity = head.payload
            if future.done():  # cancelled between scheduling and pump
                self._queue.remove(head)
                changed = True
            elif has_capacity():
                self._queue.pop()
                future.set_result(None)
                self._record(head.fairness_id, head.priority, FlowOutcome.DISPATCHED, self._waited(head))
                changed = True
        if changed:
            self._publish_sizes()

    async def run(self) -> None:
        """Re-check capacity and TTLs every ``dispatchInterval`` (metrics change without an event)."""
        while True:
            await self._clock.sleep(self.config.dispatch_interval)
            self.pump()

    def _waited(self, entry: QueuedRequest) -> float:
        return self._clock.now() - entry.enqueued_at_s

    def _record(self, fairness_id: str, priority: int, outcome: FlowOutcome, waited_s: float) -> None:
        self._metrics.record_flow_outcome(fairness_id, priority, outcome.value, waited_s)

    def _publish_sizes(self) -> None:
        self._metrics.set_flow_queue_sizes(self._queue.flow_sizes())
