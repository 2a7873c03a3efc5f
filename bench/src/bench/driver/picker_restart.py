"""A picker restart in the middle of a run: the fleet's prefix-cache hit rate in a window before the
restart and in a window of the same length after the new picker routes again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

import aiohttp

from bench.config import PickerRestart
from bench.driver.record import RequestRecord
from bench.report.result import PickerRestartResult
from bench.stats.prefix_cache import cache_deltas, fleet_hit_rate, scrape_fleet
from bench.targets.base import RestartPicker


async def restart_mid_run(session: aiohttp.ClientSession, replicas: Mapping[str, str], restart: RestartPicker,
                          spec: PickerRestart, load_started_at_s: float,
                          clock: Callable[[], float] = time.perf_counter) -> PickerRestartResult:
    """Runs beside the load (started at ``load_started_at_s`` on ``clock``, the driver's clock): scrapes the
    replicas' prefix-cache counters at ``at_s - window_s`` and ``at_s``, restarts the picker, and scrapes when
    it routes again and ``window_s`` later."""

    async def sleep_until(offset_s: float) -> None:
        await asyncio.sleep(max(0.0, load_started_at_s + offset_s - clock()))

    await sleep_until(spec.at_s - spec.window_s)
    window_start = await scrape_fleet(session, replicas)
    await sleep_until(spec.at_s)
    stopped = await scrape_fleet(session, replicas)
    stopped_at = clock()
    await restart()
    routing_at = clock()
    routing = await scrape_fleet(session, replicas)
    await asyncio.sleep(spec.window_s)
    window_end = await scrape_fleet(session, replicas)
    return PickerRestartResult(
        at_s=stopped_at - load_started_at_s, window_s=spec.window_s, recovery_s=routing_at - stopped_at,
        hit_rate_before=fleet_hit_rate(cache_deltas(window_start, stopped)),
        hit_rate_after=fleet_hit_rate(cache_deltas(routing, window_end)))


def failed_during_restart(records: Sequence[RequestRecord], result: PickerRestartResult,
                          load_started_at_s: float) -> int:
    """Requests sent while the picker was down that did not complete (Envoy had no picker to ask)."""
    down_from = load_started_at_s + result.at_s
    down_to = down_from + result.recovery_s
    return sum(1 for r in records if down_from <= r.sent_at_s <= down_to and not r.ok)
