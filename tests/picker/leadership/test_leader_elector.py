"""LeaderElector in virtual time against an in-process Lease store: acquire, renew, races, step-down,
takeover after expiry, release on stop. Timings are controller-runtime's: 15 s / 10 s / 2 s."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import random
from collections.abc import AsyncIterator

import pytest
from memory_lease_store import MemoryLeaseLock, MemoryLeaseStore
from picker.framework.clock import FakeClock
from picker.leadership.leader_elector import LeaderElector, LeaseTimings
from picker.leadership.lease_record import LeaseRecord

TIMINGS = LeaseTimings(lease_duration_s=15.0, renew_deadline_s=10.0, retry_period_s=2.0)
# A follower retries every retry period x (1 + up to 1.2) after it sees the lease lapse.
LONGEST_RETRY_S = TIMINGS.retry_period_s * 2.2


class Replicas:
    """Electors sharing one store and one virtual clock; started as tasks, cancelled on exit."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.store = MemoryLeaseStore()
        self.locks: dict[str, MemoryLeaseLock] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.electors: dict[str, LeaderElector] = {}

    def start(self, identity: str) -> LeaderElector:
        lock = self.locks[identity] = self.store.lock()
        wall_start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        elector = LeaderElector(
            lock,
            identity,
            TIMINGS,
            self.clock,
            lambda: wall_start + datetime.timedelta(seconds=self.clock.now()),
            random.Random(identity),
        )
        self.electors[identity] = elector
        self.tasks[identity] = asyncio.create_task(elector.run())
        return elector

    async def stop(self, identity: str) -> None:
        task = self.tasks.pop(identity)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def leaders(self) -> list[str]:
        return [name for name, elector in self.electors.items() if elector.is_leader and name in self.tasks]

    async def advance_checking_one_leader(self, seconds: float, step_s: float = 0.25) -> None:
        """Advance in small steps; at no instant may two replicas both consider themselves leader."""
        for _ in range(round(seconds / step_s)):
            await self.clock.advance(step_s)
            assert len(self.leaders()) <= 1, self.leaders()


@pytest.fixture
async def replicas() -> AsyncIterator[Replicas]:
    group = Replicas(FakeClock())
    yield group
    for lock in group.locks.values():  # a release must not wait on a fault the virtual clock never ends
        lock.hang = lock.unreachable = False
    for identity in list(group.tasks):
        await group.stop(identity)


async def test_first_replica_creates_the_lease_and_leads(replicas: Replicas) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    assert a.is_leader
    record = replicas.store.record
    assert record is not None
    assert (record.holder_identity, record.lease_duration_s, record.lease_transitions) == ("a", 15, 0)


async def test_leader_renews_every_retry_period_and_the_follower_stays_follower(replicas: Replicas) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    b = replicas.start("b")
    writes_before = replicas.store.writes
    await replicas.advance_checking_one_leader(60)
    assert a.is_leader and not b.is_leader
    assert b.observed_holder == "a"
    assert replicas.store.writes - writes_before == pytest.approx(60 / TIMINGS.retry_period_s, abs=1)
    record = replicas.store.record
    assert record is not None and record.holder_identity == "a" and record.lease_transitions == 0
    assert record.renew_time is not None and record.acquire_time is not None
    assert (record.renew_time - record.acquire_time).total_seconds() >= 58


async def test_two_replicas_racing_for_a_missing_lease_elect_exactly_one(replicas: Replicas) -> None:
    replicas.start("a")
    replicas.start("b")
    await replicas.advance_checking_one_leader(30)
    assert len(replicas.leaders()) == 1


async def test_leader_that_loses_an_update_race_steps_down_well_before_the_deadline(
    replicas: Replicas,
) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    assert a.is_leader

    def competitor_takes_the_lease() -> None:
        current = replicas.store.record
        assert current is not None
        replicas.store.write(dataclasses.replace(current, holder_identity="z", lease_transitions=1))

    replicas.locks["a"].before_update = competitor_takes_the_lease
    await replicas.clock.advance(TIMINGS.retry_period_s)  # this renewal gets 409
    assert a.is_leader  # one lost round is not yet a loss...
    await replicas.clock.advance(TIMINGS.retry_period_s)  # ...but the next read shows z holding it
    assert not a.is_leader
    assert a.observed_holder == "z"


@pytest.mark.parametrize("fault", ["unreachable", "hang"])  # refused connections, or calls never answered
async def test_leader_that_cannot_renew_steps_down_at_the_renew_deadline(
    replicas: Replicas, fault: str
) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    setattr(replicas.locks["a"], fault, True)
    await replicas.advance_checking_one_leader(TIMINGS.renew_deadline_s - 0.5)
    assert a.is_leader
    await replicas.advance_checking_one_leader(1.0)
    assert not a.is_leader


async def test_stepped_down_leader_competes_again_and_leads_when_the_api_returns(replicas: Replicas) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    replicas.locks["a"].unreachable = True
    await replicas.advance_checking_one_leader(TIMINGS.renew_deadline_s + 1)
    assert not a.is_leader
    replicas.locks["a"].unreachable = False
    await replicas.advance_checking_one_leader(LONGEST_RETRY_S + 0.5)
    assert a.is_leader  # the lease still names it: it takes it back without waiting for expiry


async def test_follower_takes_over_once_the_lease_lapses(replicas: Replicas) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    b = replicas.start("b")
    await replicas.advance_checking_one_leader(10)
    replicas.locks["a"].unreachable = True  # a is partitioned: it stops renewing (a crash looks the same)
    last_renewal_seen_s = replicas.clock.now()
    await replicas.advance_checking_one_leader(TIMINGS.lease_duration_s - TIMINGS.retry_period_s)
    assert not a.is_leader  # gave up at the renew deadline...
    assert not b.is_leader  # ...and b still waits out the lease
    await replicas.advance_checking_one_leader(TIMINGS.retry_period_s + LONGEST_RETRY_S + 0.5)
    assert b.is_leader
    assert replicas.clock.now() - last_renewal_seen_s <= TIMINGS.lease_duration_s + LONGEST_RETRY_S + 1
    record = replicas.store.record
    assert record is not None and (record.holder_identity, record.lease_transitions) == ("b", 1)


async def test_stopping_the_leader_releases_the_lease_and_the_follower_takes_over_at_once(
    replicas: Replicas,
) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    b = replicas.start("b")
    await replicas.advance_checking_one_leader(10)
    await replicas.stop("a")
    assert not a.is_leader
    record = replicas.store.record
    assert record is not None and not record.held and record.lease_duration_s == 1
    await replicas.advance_checking_one_leader(LONGEST_RETRY_S + 0.5)
    assert b.is_leader  # well before the 15 s lease would have lapsed


async def test_a_follower_does_not_release_a_lease_it_does_not_hold(replicas: Replicas) -> None:
    replicas.start("a")
    await replicas.clock.advance(0)
    replicas.start("b")
    await replicas.clock.advance(5)
    await replicas.stop("b")
    record = replicas.store.record
    assert record is not None and record.holder_identity == "a"


async def test_lease_taken_by_another_writer_makes_the_leader_step_down(replicas: Replicas) -> None:
    a = replicas.start("a")
    await replicas.clock.advance(0)
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    replicas.store.write(LeaseRecord("z", 15, now, now, 1))
    await replicas.clock.advance(TIMINGS.retry_period_s)
    assert not a.is_leader and a.observed_holder == "z"
