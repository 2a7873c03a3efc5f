"""The load rules read the pool's in flight: requests a sibling decider routed weigh on an endpoint here too."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable

import pytest
from picker.framework.in_flight import InFlightTracker
from picker.framework.load import hot_endpoints
from picker.placements.datagram_channel import DatagramPlacementChannel, worker_addresses
from picker.plugins.load_headroom_scorer import LoadHeadroomParameters, LoadHeadroomScorer

from tests.picker.unit.builders import endpoint_state, inference_request

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract Unix addresses")


class NoMetrics:
    def record_shared_placements(self, direction: str, count: int) -> None:
        pass

    def record_shared_placement_error(self, cause: str, count: int) -> None:
        raise AssertionError(f"nothing should fail here: {cause}")

    def set_sibling_deciders(self, count: int) -> None:
        pass


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(5.0):
        while not predicate():
            await asyncio.sleep(0.001)


async def test_load_scorer_and_spill_rule_see_what_a_sibling_routed() -> None:
    token = secrets.token_hex(4)
    trackers = [InFlightTracker(), InFlightTracker()]
    channels = [DatagramPlacementChannel(worker_addresses(token, i, 2), NoMetrics(), trackers[i]) for i in (0, 1)]
    tasks = [asyncio.create_task(channel.run()) for channel in channels]
    endpoints = [endpoint_state(0, running_requests=0), endpoint_state(1, running_requests=0)]
    scorer = LoadHeadroomScorer(LoadHeadroomParameters(), trackers[1])  # the second decider's scorer
    try:
        await asyncio.sleep(0)
        assert scorer.score(inference_request(), endpoints) == [1.0, 1.0]
        for _ in range(4):
            trackers[0].increment("e0")  # the first decider routes a burst the scrape has not seen
        await until(lambda: trackers[1].count("e0") == 4)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # 4 in flight, none running by the scrape: 4 queued at twice a running one's weight (busyScale 8).
    assert scorer.score(inference_request(), endpoints) == [pytest.approx(0.5), 1.0]
    assert hot_endpoints(endpoints, trackers[1], queue_threshold=2, kv_threshold=0.95) == [True, False]
