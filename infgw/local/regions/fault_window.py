"""Steady load through the regional gateway across a fault: one region's part is up for ``before_s``,
down for ``down_s``, up again for ``after_s``; every request's outcome, split by the phase it started in.
The picker-loss scenario and test use it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from infgw.local.regions.gateway import RegionalGateway, RegionPart
from infgw.local.regions.load import LoadResult, Outcome, RequestShape, run_load


@dataclass(frozen=True)
class FaultWindow:
    result: LoadResult
    down_at: float  # time.monotonic() when the part was taken down
    up_at: float  # ... and brought up again

    def during(self) -> list[Outcome]:
        return [o for o in self.result.outcomes if self.down_at <= o.started_s < self.up_at]

    def after(self) -> list[Outcome]:
        return [o for o in self.result.outcomes if o.started_s >= self.up_at]

    def recovered_after_s(self, region: str) -> float | None:
        """From bringing the part up to the first request it answered again in ``region``."""
        answered = [o.started_s for o in self.after() if o.status == 200 and o.served_region == region]
        return min(answered) - self.up_at if answered else None


async def load_through_fault(
    gateway: RegionalGateway,
    session: aiohttp.ClientSession,
    shape: RequestShape,
    clients: dict[str, int],
    region: str,
    part: RegionPart,
    *,
    before_s: float,
    down_s: float,
    after_s: float,
    max_requests: int,
) -> FaultWindow:
    """``max_requests`` bounds the whole run (a closed loop re-sends an immediate error at once)."""
    result = LoadResult()
    total_s = before_s + down_s + after_s
    load = asyncio.ensure_future(
        run_load(session, gateway.url, shape, clients, total_s, max_requests, result)
    )
    down_at = up_at = float("inf")
    try:
        await asyncio.sleep(before_s)
        down_at = time.monotonic()
        await gateway.take_down(region, part)
        await asyncio.sleep(down_s)
        up_at = time.monotonic()
        await gateway.bring_up(region, part)
        await load
    finally:
        if not load.done():
            load.cancel()
            await asyncio.gather(load, return_exceptions=True)
        if part in gateway.down[gateway.plan.region(region).region]:
            await gateway.bring_up(region, part)
    return FaultWindow(result, down_at, up_at)
