"""The scrape loop against real in-process HTTP servers on 127.0.0.1 (ephemeral ports)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from picker.datastore.scraper import MetricsScraper, ScrapeSettings
from picker.datastore.store import EndpointStore
from picker.framework.clock import RealClock
from picker.framework.types import Endpoint

from tests.loopback_app import serving_on_loopback
from tests.picker.unit.vllm_pages import VLLM_PAGE


class MetricsServer:
    """Serves /metrics with a switchable behaviour: good, garbage, HTML, empty, error status, or hanging."""

    def __init__(self) -> None:
        self.mode = "good"
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.mode == "garbage":
            return web.Response(text="vllm:num_requests_waiting{broken 1\n")
        if self.mode == "html":
            return web.Response(text="<html><body>upstream connect error</body></html>")
        if self.mode == "empty":
            return web.Response(text="")
        if self.mode == "error":
            return web.Response(status=500, text="oops")
        if self.mode == "hang":
            await asyncio.sleep(0.5)  # well past the 0.2 s scrape timeout
        return web.Response(text=VLLM_PAGE)


@contextlib.asynccontextmanager
async def serving(server: MetricsServer) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/metrics", server.handle)
    async with serving_on_loopback(app) as port:
        yield port


async def wait_for(predicate, timeout_s: float = 2.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


@contextlib.asynccontextmanager
async def scraping(store: EndpointStore, settings: ScrapeSettings) -> AsyncIterator[MetricsScraper]:
    scraper = MetricsScraper(store, RealClock(), settings)
    task = asyncio.create_task(scraper.run())
    try:
        yield scraper
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_loop_survives_garbage_errors_and_timeouts_and_recovers() -> None:
    server = MetricsServer()
    store = EndpointStore()
    async with serving(server) as port:
        store.replace_endpoints([Endpoint("vllm-0", "127.0.0.1", port)])
        async with scraping(store, ScrapeSettings(interval_s=0.01, timeout_s=0.2)):
            await wait_for(lambda: store.get("vllm-0").metrics is not None)
            assert store.get("vllm-0").metrics.waiting_queue_size == 7
            for mode in ("garbage", "html", "empty", "error", "hang"):
                server.mode = mode
                await wait_for(lambda: store.is_unreachable("vllm-0"))
                assert store.candidates() == ()
                server.mode = "good"
                await wait_for(lambda: not store.is_unreachable("vllm-0"))
                assert [s.endpoint.name for s in store.candidates()] == ["vllm-0"]


async def test_refused_connection_marks_unreachable_and_new_members_get_loops() -> None:
    store = EndpointStore()
    server = MetricsServer()
    async with serving(server) as live_port:
        async with scraping(store, ScrapeSettings(interval_s=0.01, timeout_s=0.2)):
            store.replace_endpoints([Endpoint("dead", "127.0.0.1", 1)])
            await wait_for(lambda: store.is_unreachable("dead"))
            store.upsert_endpoint(Endpoint("live", "127.0.0.1", live_port))
            await wait_for(lambda: store.get("live").metrics is not None)
            store.remove_endpoint("live")
            hits = server.hits
            await asyncio.sleep(0.05)
            assert server.hits <= hits + 1  # its loop stopped with it


def test_metrics_port_and_path_override() -> None:
    scraper = MetricsScraper(
        EndpointStore(), RealClock(), ScrapeSettings(metrics_port=9100, path="/stats", scheme="https")
    )
    assert scraper.url_for(Endpoint("a", "fd00::1", 8000)) == "https://[fd00::1]:9100/stats"


async def test_scrape_once_needs_a_running_scraper() -> None:
    scraper = MetricsScraper(EndpointStore(), RealClock())
    with pytest.raises(RuntimeError):
        await scraper.scrape_once(Endpoint("a", "127.0.0.1", 1))
