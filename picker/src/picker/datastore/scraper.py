"""One scrape loop per endpoint: GET the model server's ``/metrics`` every interval and update the store.

A failed scrape (refused, timed out, non-200, not Prometheus text) marks the endpoint unreachable, which
takes it out of the candidate set until a scrape succeeds again; no failure ever ends a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from picker.datastore.store import EndpointStore
from picker.datastore.vllm_metrics import MetricsParseError, parse_vllm_metrics
from picker.framework.clock import Clock
from picker.framework.types import Endpoint
from picker.options import PickerOptions

logger = logging.getLogger(__name__)


_FLAGS = PickerOptions.model_fields


class ScrapeSettings(BaseModel):
    """Scrape behaviour; defaults are the picker's flags' (the EPP's), except the timeout (see ``timeout_s``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: float = Field(
        default=_FLAGS["refresh_metrics_interval_s"].default, gt=0.0, description="--refresh-metrics-interval"
    )
    # The EPP waits 5 s; a hung server would then stay a candidate for 5 s. One second bounds that.
    timeout_s: float = Field(default=1.0, gt=0.0)
    scheme: Literal["http", "https"] = _FLAGS["model_server_metrics_scheme"].default
    path: str = Field(default=_FLAGS["model_server_metrics_path"].default, pattern=r"^/")
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="scrape this port instead of each endpoint's own"
    )
    # --model-server-metrics-https-insecure-skip-verify, inverted
    verify_tls: bool = not _FLAGS["model_server_metrics_https_insecure_skip_verify"].default


class MetricsScraper:
    """Runs the per-endpoint loops for as long as :meth:`run` runs; follows pool membership changes."""

    def __init__(self, store: EndpointStore, clock: Clock, settings: ScrapeSettings | None = None) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings or ScrapeSettings()
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def url_for(self, endpoint: Endpoint) -> str:
        port = self._settings.metrics_port or endpoint.port
        host = f"[{endpoint.address}]" if ":" in endpoint.address else endpoint.address
        return f"{self._settings.scheme}://{host}:{port}{self._settings.path}"

    async def run(self) -> None:
        """Scrape until cancelled; closes its HTTP session and loops on the way out."""
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
        connector = aiohttp.TCPConnector(ssl=self._settings.verify_tls)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            self._session = session
            self._store.add_listener(self._on_membership)
            self._on_membership([state.endpoint for state in self._store.all_endpoints()], [])
            try:
                await asyncio.Future()  # run until cancelled
            finally:
                loops = list(self._loops.values())
                self._loops.clear()
                for task in loops:
                    task.cancel()
                for task in loops:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                self._session = None

    async def scrape_once(self, endpoint: Endpoint) -> bool:
        """One scrape; True when the store got fresh metrics, False when the endpoint was marked unreachable."""
        session = self._session
        if session is None:
            raise RuntimeError("scrape_once needs a running scraper (call run() first)")
        try:
            async with session.get(self.url_for(endpoint)) as response:
                if response.status != 200:
                    raise MetricsParseError(f"HTTP {response.status}")
                text = await response.text(errors="replace")
            metrics = parse_vllm_metrics(text, self._clock.now())
        except (aiohttp.ClientError, TimeoutError, MetricsParseError, OSError) as error:
            if not self._store.is_unreachable(endpoint.name):
                logger.warning(
                    "endpoint %s unreachable for metrics: %s", endpoint.name, error or type(error).__name__
                )
            self._store.mark_unreachable(endpoint.name)
            return False
        if self._store.is_unreachable(endpoint.name):
            logger.info("endpoint %s answers metrics again", endpoint.name)
        self._store.update_metrics(endpoint.name, metrics)
        return True

    def _on_membership(self, added: list[Endpoint], removed: list[str]) -> None:
        for name in removed:
            task = self._loops.pop(name, None)
            if task is not None:
                task.cancel()
        for endpoint in added:
            previous = self._loops.pop(endpoint.name, None)
            if previous is not None:
                previous.cancel()
            self._loops[endpoint.name] = asyncio.get_running_loop().create_task(
                self._loop(endpoint), name=f"scrape:{endpoint.name}"
            )

    async def _loop(self, endpoint: Endpoint) -> None:
        interval_s = self._settings.interval_s
        while True:
            started_s = self._clock.now()
            try:
                await self.scrape_once(endpoint)
            except Exception:  # a bug in parsing must not stop the pool from being watched
                logger.exception("scrape of %s failed unexpectedly", endpoint.name)
                self._store.mark_unreachable(endpoint.name)
            await self._clock.sleep(max(0.0, interval_s - (self._clock.now() - started_s)))
