"""The metric path: each region's utilization as Google's load balancer would see it.

CUSTOM_METRICS: the replicas' gauge the AutoscalingMetric exports (``vllm:kv_cache_usage_perc`` as
``kv-cache``, 0..1), averaged over the region's endpoints that answered. IN_FLIGHT: the region's in-flight
requests (vLLM's running + waiting) over its capacity (``maxInFlightRequestsPerEndpoint`` per endpoint that
answered). A value becomes visible ``delay_s`` after it was scraped: the exporter's and the control
plane's reporting delay, which GKE does not publish.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from infgw.local.regions.tier_config import BalancingMode, TierConfig

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"


@dataclass(frozen=True)
class EndpointReading:
    """One replica's scrape: the balanced gauge and its in-flight requests."""

    gauge: float
    in_flight: int


def read_endpoint(text: str, gauge_name: str | None) -> EndpointReading:
    """Parse a /metrics page (samples of one name are summed). Raises ValueError if it is not Prometheus text."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    gauge = sums.get(gauge_name, 0.0) if gauge_name else 0.0
    return EndpointReading(gauge=gauge, in_flight=int(sums.get(RUNNING, 0) + sums.get(WAITING, 0)))


async def scrape_endpoint(
    session: aiohttp.ClientSession, url: str, gauge_name: str | None, timeout_s: float = 1.0
) -> EndpointReading | None:
    """None when the replica does not answer (a down endpoint reports nothing)."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status != 200:
                return None
            text = await response.text()
        return read_endpoint(text, gauge_name)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


def region_utilization(tier: TierConfig, readings: Sequence[EndpointReading | None]) -> float | None:
    """The region's utilization from its endpoints' readings; None when no endpoint answered."""
    answered = [reading for reading in readings if reading is not None]
    if not answered:
        return None
    if tier.balancing_mode is BalancingMode.IN_FLIGHT:
        capacity = (tier.max_in_flight_per_endpoint or 1) * len(answered)
        return sum(reading.in_flight for reading in answered) / capacity
    return sum(reading.gauge for reading in answered) / len(answered)


class DelayedReports:
    """Per region, the utilization as reported ``delay_s`` after it was measured."""

    def __init__(self, regions: Sequence[str], delay_s: float) -> None:
        self.delay_s = delay_s
        self._history: dict[str, deque[tuple[float, float | None]]] = {region: deque() for region in regions}

    def record(self, region: str, at: float, value: float | None) -> None:
        self._history[region].append((at, value))

    def reported(self, region: str, now: float) -> float | None:
        """The newest value measured at least ``delay_s`` before ``now``; None before the first one."""
        history = self._history[region]
        while len(history) > 1 and history[1][0] <= now - self.delay_s:
            history.popleft()
        if not history or history[0][0] > now - self.delay_s:
            return None
        return history[0][1]


async def scrape_region(
    session: aiohttp.ClientSession, tier: TierConfig, metrics_urls: Sequence[str]
) -> list[EndpointReading | None]:
    gauge = tier.metric.source_name if tier.metric is not None else None
    return list(await asyncio.gather(*(scrape_endpoint(session, url, gauge) for url in metrics_urls)))
