"""Leader election over a Lease, with client-go's rules (the EPP uses controller-runtime's elector).

- Acquire: every retry period (jittered up to 1.2x), read the Lease; take it if it is missing, released
  (empty holder), already ours, or not renewed for its lease duration as measured on *this* replica's
  clock since the record last changed (no cross-node clock comparison). The write carries the read's
  resourceVersion, so of two replicas racing only one succeeds; the other gets a 409 and stays follower.
- Renew: every retry period. A leader that sees another holder, or has not renewed for the renew
  deadline (API down, partitioned, conflicts), steps down at once and competes again as a follower:
  it stops serving before a follower may take over (renew deadline < lease duration), so two replicas
  never both report ready.
- Stop: cancelling :meth:`LeaderElector.run` releases the Lease (empty holder) if this replica holds
  it, so a follower takes over on its next retry instead of waiting for the lease to lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import enum
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from picker.framework.clock import Clock
from picker.leadership.lease_lock import LeaseConflict, LeaseLock
from picker.leadership.lease_record import LeaseRecord
from picker.options import LEASE_JITTER_FACTOR

logger = logging.getLogger(__name__)

WallClock = Callable[[], datetime.datetime]
_T = TypeVar("_T")


@dataclass(frozen=True)
class LeaseTimings:
    """--ha-lease-duration, --ha-renew-deadline, --ha-retry-period (defaults in PickerOptions:
    controller-runtime's 15 s, 10 s, 2 s)."""

    lease_duration_s: float
    renew_deadline_s: float
    retry_period_s: float

    @property
    def lease_duration_seconds(self) -> int:
        """The Lease's ``leaseDurationSeconds`` (whole seconds, rounded up)."""
        return max(1, math.ceil(self.lease_duration_s))


class _Attempt(enum.Enum):
    SUCCEEDED = "succeeded"
    HELD_BY_OTHER = "held by another replica"
    FAILED = "failed"


class LeaderElector:
    """Competes for one Lease under ``identity``; ``is_leader`` says whether this replica may serve."""

    def __init__(
        self,
        lock: LeaseLock,
        identity: str,
        timings: LeaseTimings,
        clock: Clock,
        wall_clock: WallClock,
        rng: random.Random,
    ) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty holder identity")
        self._lock = lock
        self.identity = identity
        self._timings = timings
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng
        self._leader = False
        self._observed: LeaseRecord | None = None
        self._observed_at_s = 0.0
        self._failing = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def observed_holder(self) -> str:
        """The holder in the last Lease this replica read or wrote ("" if none or released)."""
        return self._observed.holder_identity if self._observed is not None else ""

    async def run(self) -> None:
        """Acquire, renew until lost, compete again; until cancelled, which releases a held Lease."""
        try:
            while True:
                await self._acquire()
                await self._renew_until_lost()
        finally:
            await self._release()

    async def _acquire(self) -> None:
        while True:
            if await self._attempt(self._timings.renew_deadline_s) is _Attempt.SUCCEEDED:
                self._set_leader(True)
                return
            jitter = 1.0 + self._rng.random() * LEASE_JITTER_FACTOR
            await self._clock.sleep(self._timings.retry_period_s * jitter)

    async def _renew_until_lost(self) -> None:
        renewed_at_s = self._clock.now()
        while True:
            await self._clock.sleep(self._timings.retry_period_s)
            remaining_s = renewed_at_s + self._timings.renew_deadline_s - self._clock.now()
            outcome = await self._attempt(remaining_s) if remaining_s > 0 else _Attempt.FAILED
            if outcome is _Attempt.SUCCEEDED:
                renewed_at_s = self._clock.now()
                continue
            if outcome is _Attempt.HELD_BY_OTHER:
                logger.warning(
                    "lease %s was taken by %s: stepping down", self._lock.description, self.observed_holder
                )
                self._set_leader(False)
                return
            if self._clock.now() - renewed_at_s >= self._timings.renew_deadline_s:
                logger.warning(
                    "lease %s not renewed within the renew deadline (%.1f s): stepping down",
                    self._lock.description,
                    self._timings.renew_deadline_s,
                )
                self._set_leader(False)
                return

    async def _attempt(self, timeout_s: float) -> _Attempt:
        """One acquire-or-renew round trip, bounded by ``timeout_s``; API errors count as FAILED."""
        try:
            outcome = await self._bounded(self._try_acquire_or_renew(), timeout_s)
        except LeaseConflict:
            logger.debug("lease %s changed under us (409): lost this round", self._lock.description)
            return _Attempt.FAILED
        except Exception as error:  # API down, RBAC, TimeoutError: retry next round
            if not self._failing:
                logger.warning("lease %s: cannot reach the Lease API: %s", self._lock.description, error)
            self._failing = True
            return _Attempt.FAILED
        if self._failing:
            logger.info("lease %s: Lease API reachable again", self._lock.description)
            self._failing = False
        return outcome

    async def _try_acquire_or_renew(self) -> _Attempt:
        now_s = self._clock.now()
        wall = self._wall_clock()
        current = await self._lock.get()
        if current is None:
            record = LeaseRecord(self.identity, self._timings.lease_duration_seconds, wall, wall, 0)
            self._observe(await self._lock.create(record), now_s)
            return _Attempt.SUCCEEDED
        if current != self._observed:
            self._observe(current, now_s)
        if current.held and current.holder_identity != self.identity and self._lease_valid(now_s):
            return _Attempt.HELD_BY_OTHER
        if current.holder_identity == self.identity:
            record = replace(current, lease_duration_s=self._timings.lease_duration_seconds, renew_time=wall)
        else:
            record = LeaseRecord(
                self.identity,
                self._timings.lease_duration_seconds,
                acquire_time=wall,
                renew_time=wall,
                lease_transitions=current.lease_transitions + 1,
                resource_version=current.resource_version,
            )
        self._observe(await self._lock.update(record), now_s)
        return _Attempt.SUCCEEDED

    def _lease_valid(self, now_s: float) -> bool:
        assert self._observed is not None
        return now_s < self._observed_at_s + self._observed.lease_duration_s

    def _observe(self, record: LeaseRecord, now_s: float) -> None:
        self._observed, self._observed_at_s = record, now_s

    def _set_leader(self, leader: bool) -> None:
        if leader != self._leader:
            logger.info(
                "%s lease %s as %s",
                "acquired" if leader else "lost",
                self._lock.description,
                self.identity,
            )
        self._leader = leader

    async def _release(self) -> None:
        """Stop serving, then hand the Lease over if the last record seen names this replica: empty
        holder, 1 s duration (as client-go does). A stale resourceVersion makes it a harmless 409."""
        self._set_leader(False)
        observed = self._observed
        if observed is None or observed.holder_identity != self.identity:
            return
        wall = self._wall_clock()
        released = LeaseRecord(
            "", 1, wall, wall, observed.lease_transitions, resource_version=observed.resource_version
        )
        try:
            self._observe(
                await self._bounded(self._lock.update(released), self._timings.retry_period_s),
                self._clock.now(),
            )
            logger.info("released lease %s", self._lock.description)
        except Exception as error:  # followers take over when it lapses instead
            logger.warning("could not release lease %s: %s", self._lock.description, error)

    async def _bounded(self, call: Awaitable[_T], timeout_s: float) -> _T:
        """``call``'s result, or TimeoutError once ``timeout_s`` passes on the injected clock."""
        work = asyncio.ensure_future(call)
        timer = asyncio.ensure_future(self._clock.sleep(max(0.0, timeout_s)))
        try:
            await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (timer, work):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if work.cancelled():
            raise TimeoutError(f"no answer within {timeout_s:.1f} s")
        return work.result()
