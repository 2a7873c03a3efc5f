"""Overload: a sheddable flood at several times capacity while a priority >= 0 client streams. Bounded,
and without timing assertions on TTFT: the 2x figure is measured by `python -m bench.soak.figures`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.soak.gateway import GatewayUnderTest, sim_replica, start_gateway
from bench.soak.overload import OBJECTIVES, SIM_ARGS, OverloadResult, run_overload
from bench.stats.percentiles import percentile_or_nan

pytestmark = pytest.mark.integration

SHEDDABLE_CAP = 1  # sheddableHeadroom.maxInFlightPerEndpoint
CRITICAL_CONCURRENCY = 1  # run_overload's priority >= 0 client sends one request at a time


def start(work_dir: Path, admission: dict[str, object] | None) -> GatewayUnderTest:
    replicas = [sim_replica(work_dir, f"replica-{i}", *SIM_ARGS) for i in range(2)]
    return start_gateway(work_dir, replicas, objectives=OBJECTIVES, admission=admission)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayUnderTest]:
    gateway = start(tmp_path_factory.mktemp("overload"), None)
    yield gateway
    gateway.stop()
    assert gateway.leftover_processes() == []


@pytest.fixture(scope="module")
def headroom_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayUnderTest]:
    admission = {"sheddableHeadroom": {"maxInFlightPerEndpoint": SHEDDABLE_CAP}}
    gateway = start(tmp_path_factory.mktemp("overload-headroom"), admission)
    yield gateway
    gateway.stop()
    assert gateway.leftover_processes() == []


def report(result: OverloadResult) -> None:
    rss_before, rss_after = result.picker_rss_kib
    print(
        f"\ncritical {dict(result.critical_statuses)} p90 TTFT {percentile_or_nan(result.critical_ttft_s, 90):.3f} s; "
        f"sheddable {dict(result.sheddable_statuses)} 429 p90 {percentile_or_nan(result.rejection_latency_s, 90):.3f} s; "
        f"max waiting/replica {result.max_waiting_per_replica}, in system {result.max_in_system_per_replica}; "
        f"picker RSS {rss_before} -> {rss_after} KiB"
    )


def assert_flood_is_shed_and_critical_served(result: OverloadResult, critical_requests: int) -> None:
    assert result.critical_statuses == {200: critical_requests}, "priority >= 0 traffic is never shed"
    assert result.sheddable_statuses[429] > 0, "the flood was never shed"
    assert set(result.sheddable_statuses) <= {200, 429}, result.sheddable_statuses
    # "Quickly": refused in the picker, never after queueing behind the flood (generous for a shared box).
    assert percentile_or_nan(result.rejection_latency_s, 50) < 2.0
    rss_before, rss_after = result.picker_rss_kib
    assert rss_after - rss_before < 64 * 1024, "picker memory grew under the flood"


async def test_sheddable_flood_is_refused_while_critical_traffic_is_served(gateway: GatewayUnderTest) -> None:
    result = await run_overload(gateway, critical_requests=8, flood_workers=16)
    report(result)
    assert_flood_is_shed_and_critical_served(result, 8)
    # Bounded queue: refusals keep each replica's waiting queue near the saturation threshold (5), far
    # below the 16 flooding clients.
    assert result.max_waiting_per_replica <= 12


async def test_sheddable_headroom_caps_the_flood_per_replica(headroom_gateway: GatewayUnderTest) -> None:
    result = await run_overload(headroom_gateway, critical_requests=8, flood_workers=16)
    report(result)
    assert_flood_is_shed_and_critical_served(result, 8)
    assert result.sheddable_statuses[200] > 0, "the rule let no sheddable request through"
    # Counts, not times: the picker releases a request only after the replica has finished it, so a
    # replica never holds more than the cap of sheddable requests plus the critical client's one.
    assert 0 < result.max_in_system_per_replica <= SHEDDABLE_CAP + CRITICAL_CONCURRENCY
