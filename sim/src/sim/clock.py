"""Time sources for the simulator: the real monotonic clock for serving, a fake one for virtual-time tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale; only differences are meaningful."""

    def now(self) -> float: ...


class MonotonicClock:
    """The process's monotonic clock (what the server runs on)."""

    def now(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to, so engine tests run in virtual time."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s

    def now(self) -> float:
        return self._now_s

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        self._now_s += seconds
        return self._now_s

    def set(self, now_s: float) -> None:
        if now_s < self._now_s:
            raise ValueError(f"a clock cannot go backwards ({now_s} < {self._now_s})")
        self._now_s = now_s
