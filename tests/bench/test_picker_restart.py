"""A picker restart mid-run: hit-rate windows from the replicas' counters, failures while down, the table."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from bench.config import PickerRestart
from bench.driver.picker_restart import failed_during_restart, restart_mid_run
from bench.driver.record import RequestRecord
from bench.report.markdown import picker_restart_table
from bench.report.result import PickerRestartResult, ScenarioResult, TargetRun


class CountingReplica:
    """Serves vLLM's prefix-cache counters; each scrape adds one step of hits: 8 of 10 tokens before the
    restart, 2 of 10 after it."""

    def __init__(self) -> None:
        self.hits = 0.0
        self.queries = 0.0
        self.restarted = False
        self.restarts = 0

    async def metrics(self, _: web.Request) -> web.Response:
        self.hits += 2.0 if self.restarted else 8.0
        self.queries += 10.0
        return web.Response(text=f"vllm:prefix_cache_hits_total {self.hits}\n"
                                 f"vllm:prefix_cache_queries_total {self.queries}\n")

    async def restart(self) -> None:
        self.restarted = True
        self.restarts += 1


@pytest.fixture
async def replica() -> AsyncIterator[tuple[CountingReplica, str]]:
    counting = CountingReplica()
    app = web.Application()
    app.router.add_get("/metrics", counting.metrics)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield counting, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_windows_before_and_after_the_restart_come_from_the_counters(replica):
    counting, url = replica
    ticks = iter(float(t) for t in range(100))  # a clock that advances 1 s per reading: no real waiting
    async with aiohttp.ClientSession() as session:
        result = await restart_mid_run(session, {"replica-0": url}, counting.restart,
                                       PickerRestart(at_s=0.02, window_s=0.01), load_started_at_s=-100.0,
                                       clock=lambda: next(ticks))
    assert counting.restarts == 1
    assert result.hit_rate_before == pytest.approx(0.8) and result.hit_rate_after == pytest.approx(0.2)
    assert result.drop_points == pytest.approx(60.0)
    assert result.recovery_s == 1.0 and result.window_s == 0.01


def test_requests_sent_while_the_picker_was_down_and_failed_are_counted():
    restart = PickerRestartResult(at_s=20.0, window_s=10.0, recovery_s=3.0, hit_rate_before=0.8,
                                  hit_rate_after=0.7)
    records = [RequestRecord(index=0, priority_class="", prefix_group="g", sent_at_s=100.0 + 19.0, status=500),
               RequestRecord(index=1, priority_class="", prefix_group="g", sent_at_s=100.0 + 21.0, status=500),
               RequestRecord(index=2, priority_class="", prefix_group="g", sent_at_s=100.0 + 22.0, status=200),
               RequestRecord(index=3, priority_class="", prefix_group="g", sent_at_s=100.0 + 24.0, status=0)]
    assert failed_during_restart(records, restart, load_started_at_s=100.0) == 1


def test_the_table_shows_both_windows_and_the_drop_per_target():
    runs = [TargetRun(target=name, status="ok", picker_restart=PickerRestartResult(
                at_s=20.0, window_s=10.0, recovery_s=3.2, hit_rate_before=before, hit_rate_after=after))
            for name, before, after in (("picker-recommended", 0.85, 0.40), ("picker-precise", 0.84, 0.83))]
    scenario = ScenarioResult(name="picker-restart", description="", workload={}, load={}, runs=runs)
    table = picker_restart_table(scenario)
    assert "| picker-recommended | 20.0 | 3.2 | 85.0% | 40.0% | 45.0 | 0 |" in table
    assert "| picker-precise | 20.0 | 3.2 | 84.0% | 83.0% | 1.0 | 0 |" in table
    assert picker_restart_table(ScenarioResult(name="x", description="", workload={}, load={},
                                               runs=[TargetRun(target="t", status="ok")])) == ""
