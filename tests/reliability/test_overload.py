"""Overload: a sheddable flood at several times capacity while a priority >= 0 client streams. Bounded,
and without timing assertions on TTFT: the 2x figure is measured by `python -m bench.soak.figures`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.soak.gateway import GatewayUnderTest, sim_replica, start_gateway
from bench.soak.overload import OBJECTIVES, SIM_ARGS, percentile, run_overload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayUnderTest]:
    work_dir: Path = tmp_path_factory.mktemp("overload")
    replicas = [sim_replica(work_dir, f"replica-{i}", *SIM_ARGS) for i in range(2)]
    gateway = start_gateway(work_dir, replicas, objectives=OBJECTIVES)
    yield gateway
    gateway.stop()
    assert gateway.leftover_processes() == []


async def test_sheddable_flood_is_refused_while_critical_traffic_is_served(gateway: GatewayUnderTest) -> None:
    result = await run_overload(gateway, critical_requests=8, flood_workers=16)
    rss_before, rss_after = result.picker_rss_kib
    print(
        f"\ncritical {dict(result.critical_statuses)} p90 TTFT {percentile(result.critical_ttft_s, 0.9):.3f} s; "
        f"sheddable {dict(result.sheddable_statuses)} 429 p90 {percentile(result.rejection_latency_s, 0.9):.3f} s; "
        f"max waiting/replica {result.max_waiting_per_replica}; picker RSS {rss_before} -> {rss_after} KiB"
    )
    assert result.critical_statuses == {200: 8}, "priority >= 0 traffic is never shed"
    assert result.sheddable_statuses[429] > 0, "the flood was never shed"
    assert set(result.sheddable_statuses) <= {200, 429}, result.sheddable_statuses
    # "Quickly": refused in the picker, never after queueing behind the flood (generous for a shared box).
    assert percentile(result.rejection_latency_s, 0.5) < 2.0
    # Bounded queue: refusals keep each replica's waiting queue near the saturation threshold (5), far
    # below the 16 flooding clients.
    assert result.max_waiting_per_replica <= 12
    assert rss_after - rss_before < 64 * 1024, "picker memory grew under the flood"
