"""PickerHealth's readiness as listeners see it: the current value at once, then every change, shutdown
included (for good), and nothing while it stays the same (a worker reports it to its supervisor this way)."""

from __future__ import annotations

import asyncio

from picker.framework.clock import FakeClock
from picker.server.health import PickerHealth


async def test_listeners_hear_the_readiness_now_and_at_each_change_only() -> None:
    synced = False
    clock = FakeClock()
    health = PickerHealth(lambda: synced, clock, poll_interval_s=0.05)
    heard: list[bool] = []
    health.subscribe(heard.append)
    tracking = asyncio.create_task(health.track_readiness())
    try:
        await clock.advance(0.2)
        synced = True
        await clock.advance(0.2)
        await clock.advance(0.2)
        health.shut_down()
        await clock.advance(0.2)  # still synced, but shut down for good
    finally:
        tracking.cancel()
        await asyncio.gather(tracking, return_exceptions=True)
    assert heard == [False, True, False]
