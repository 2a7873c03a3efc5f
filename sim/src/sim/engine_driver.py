"""Runs the pure engine on the real clock: one asyncio task advances it and routes events to requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from sim.clock import Clock
from sim.engine import Engine, EngineEvent, GenerationRequest, SequenceFinished

log = logging.getLogger(__name__)


class RequestStream:
    """The events of a group of engine requests (one per choice of one HTTP request), in order.

    Iteration ends once every request of the group has its ``SequenceFinished``.
    """

    def __init__(self, request_ids: Sequence[str], wants_tokens: bool = True) -> None:
        self.request_ids = tuple(request_ids)
        # A non-streaming answer only needs the finish records: skip queueing every token for it.
        self.wants_tokens = wants_tokens
        self._queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        self.finished: dict[str, SequenceFinished] = {}

    @property
    def done(self) -> bool:
        return len(self.finished) == len(self.request_ids)

    def put(self, event: EngineEvent) -> None:
        self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[EngineEvent]:
        while not self.done:
            event = await self._queue.get()
            if isinstance(event, SequenceFinished):
                self.finished[event.request_id] = event
            yield event

    def drain_ready(self) -> list[EngineEvent]:
        """Events already delivered but not yet consumed (lets writers batch without awaiting)."""
        ready: list[EngineEvent] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if isinstance(event, SequenceFinished):
                self.finished[event.request_id] = event
            ready.append(event)
        return ready


class EngineDriver:
    """The bridge between handlers and the engine.

    Handlers ``submit`` a request and iterate its :class:`RequestStream`; the driver sleeps until the
    engine's next step ends (or a new request arrives when idle), advances the engine, feeds the metrics
    and routes each event to the stream of the request it belongs to.
    """

    def __init__(
        self, engine: Engine, clock: Clock, on_events: Callable[[Sequence[EngineEvent]], None]
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._on_events = on_events
        self._streams: dict[str, RequestStream] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-engine-driver")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def submit(self, requests: Sequence[GenerationRequest], wants_tokens: bool = True) -> RequestStream:
        """Queue every request of one HTTP request; all or none (a rejection withdraws the others)."""
        now_s = self._clock.now()
        stream = RequestStream([request.request_id for request in requests], wants_tokens)
        try:
            for request in requests:
                self._engine.submit(request, now_s)
                self._streams[request.request_id] = stream
        except Exception:
            for request_id in stream.request_ids:
                if self._streams.pop(request_id, None) is not None:
                    self._engine.abort(request_id, now_s)
            raise
        self._wakeup.set()
        return stream

    def abort(self, request_id: str) -> None:
        stream = self._streams.pop(request_id, None)
        finished = self._engine.abort(request_id, self._clock.now())
        if finished is not None:
            self._on_events([finished])
            if stream is not None:
                stream.put(finished)
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            try:
                self._dispatch(self._engine.advance(self._clock.now()))
            except Exception:  # the loop must outlive any one bad step, or every request would hang
                log.exception("engine step failed")
            wakeup_s = self._engine.next_wakeup_s()
            self._wakeup.clear()
            if wakeup_s is None:
                await self._wakeup.wait()
                continue
            delay_s = wakeup_s - self._clock.now()
            if delay_s <= 0:
                await asyncio.sleep(0)  # let handlers write what the last advance produced
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay_s):
                    await self._wakeup.wait()

    def _dispatch(self, events: Sequence[EngineEvent]) -> None:
        if not events:
            return
        self._on_events(events)
        for event in events:
            stream = self._streams.get(event.request_id)
            if stream is None:
                continue
            if isinstance(event, SequenceFinished):
                stream.put(event)
                del self._streams[event.request_id]
            elif stream.wants_tokens:
                stream.put(event)
