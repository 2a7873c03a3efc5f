from __future__ import annotations

import asyncio

from picker.framework.clock import FakeClock, RealClock


async def test_fake_clock_wakes_sleepers_in_deadline_order_at_their_deadline() -> None:
    clock = FakeClock(start_s=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(name, delay)) for name, delay in (("late", 3.0), ("early", 1.0))]
    await clock.advance(0.5)
    assert woke == []
    await clock.advance(5.0)
    assert woke == [("early", 1.0), ("late", 3.0)]
    assert clock.now() == 5.5
    await asyncio.gather(*tasks)


async def test_periodic_loop_runs_once_per_period_in_virtual_time() -> None:
    clock = FakeClock(start_s=0.0)
    ticks: list[float] = []

    async def loop() -> None:
        while True:
            await clock.sleep(0.25)
            ticks.append(clock.now())

    task = asyncio.create_task(loop())
    await clock.advance(1.0)
    task.cancel()
    assert ticks == [0.25, 0.5, 0.75, 1.0]


async def test_real_clock_is_monotonic() -> None:
    clock = RealClock()
    before = clock.now()
    await clock.sleep(0)
    assert clock.now() >= before
