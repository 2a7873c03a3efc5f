"""The picker's injected notion of time: a monotonic clock with sleep, real or fake (virtual time).

Everything that reads time (staleness, TTLs, durations, periodic loops) takes a :class:`Clock`, so tests
drive it with :class:`FakeClock` and never wait on wall time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds plus an awaitable sleep on the same time base."""

    def now(self) -> float:
        """Seconds on a monotonic time base (only differences are meaningful)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller until ``now()`` has advanced by ``seconds``."""
        ...


class RealClock:
    """``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Virtual time: ``now()`` moves only when a test calls :meth:`advance`.

    Sleepers wake in deadline order as time passes them; ``advance`` yields to the event loop after
    each wake-up so woken coroutines run before the next deadline is reached.
    """

    def __init__(self, start_s: float = 1000.0) -> None:
        self._now_s = start_s
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now_s

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now_s + seconds, next(self._sequence), future))
        await future

    @property
    def pending_sleepers(self) -> int:
        """Sleepers not yet woken (cancelled ones included until their deadline passes)."""
        return len(self._sleepers)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper whose deadline is reached."""
        target_s = self._now_s + seconds
        await self._let_ready_tasks_run()  # tasks started just before advance() register their sleeps first
        while self._sleepers and self._sleepers[0][0] <= target_s:
            deadline_s, _, future = heapq.heappop(self._sleepers)
            self._now_s = max(self._now_s, deadline_s)
            if not future.done():
                future.set_result(None)
            await self._let_ready_tasks_run()
        self._now_s = target_s
        await self._let_ready_tasks_run()

    @staticmethod
    async def _let_ready_tasks_run() -> None:
        # Several yields: a woken coroutine may pass through other resolved futures before it sleeps again.
        for _ in range(5):
            await asyncio.sleep(0)
