"""The two-region local gateway from the dev stack's rendered manifests: clients stay in their region
below the target, a share spills above it, a region whose replicas die loses all traffic to the other
once the health checks react (no request lost after that), and coming back restores locality; a region
whose health checks alone fail moves and returns the same way with no request lost at all; a picker
lost with FailClose fails its region's clients; `infgw region` drives the faults.

Tests run in file order against one gateway (module scope): each leaves both regions up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from regional_fixtures import (
    CHECK_INTERVAL_S,
    EAST,
    MODEL,
    WEST,
    fast_checking_gateway,
    spilling_load,
)
from typer.testing import CliRunner, Result

from infgw.cli import app
from infgw.local.regions.control import ControlServer
from infgw.local.regions.gateway import RegionalGateway, RegionPart, RegionStatus
from infgw.local.regions.load import LoadResult, Outcome, RequestShape, run_load

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHAPE = RequestShape(model=MODEL)
WAIT_S = 30.0  # bound on every wait for the tier to react


async def _until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S, step_s: float = 0.2
) -> float:
    """Poll the async ``condition`` until it holds; the seconds it took. Fails the test at the bound."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if await condition():
            return time.monotonic() - started
        await asyncio.sleep(step_s)
    pytest.fail(f"not within {timeout_s} s: {condition.__doc__ or condition}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory, dev_manifests: tuple[Path, list[str]]
) -> AsyncIterator[RegionalGateway]:
    async with fast_checking_gateway(tmp_path_factory, dev_manifests) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def _all_local(gateway: RegionalGateway) -> bool:
    """every region keeps all of its clients' requests (local share 100%)"""
    return all(share == 1.0 for share in gateway.controller.shares.values())


async def test_the_tier_is_configured_from_the_rendered_objects(gateway: RegionalGateway) -> None:
    tier = gateway.plan.tier
    assert tier.regions == (WEST, EAST)
    assert tier.max_utilization == pytest.approx(0.6)
    assert tier.metric is not None and tier.metric.source_name == "vllm:kv_cache_usage_perc"
    assert tier.health_check.interval_s == CHECK_INTERVAL_S  # the edited HealthCheckPolicy
    assert tier.health_check.path == "/health"
    assert tier.timeout_s == 100


async def test_below_target_each_regions_clients_stay_in_region(
    gateway: RegionalGateway, session: aiohttp.ClientSession
) -> None:
    result = await run_load(session, gateway.url, SHAPE, {WEST: 1, EAST: 1}, duration_s=6, max_requests=60)
    assert result.failed() == []
    assert set(result.served(WEST)) == {WEST}
    assert set(result.served(EAST)) == {EAST}
    assert all(u is None or u < gateway.plan.tier.max_utilization for u in gateway.reported.values())
    await asyncio.sleep(0.5)  # Envoy writes its access log every 200 ms
    rows = {row.region: row for row in await gateway.status(session)}
    assert rows[WEST].local >= len(result.served(WEST)) and rows[WEST].spilled == 0


async def test_above_target_a_share_spills_to_the_other_region(
    gateway: RegionalGateway, session: aiohttp.ClientSession
) -> None:
    result, peak = await spilling_load(gateway, session)
    assert result.failed() == []
    assert peak > gateway.plan.tier.max_utilization
    assert result.share_elsewhere(WEST) > 0.05, result.served(WEST)
    assert result.served(WEST)[WEST] > 0  # spill-over is a share, not a move


@contextlib.asynccontextmanager
async def _west_down_under_load(
    gateway: RegionalGateway, session: aiohttp.ClientSession, part: RegionPart
) -> AsyncIterator[tuple[LoadResult, float, dict[str, RegionStatus]]]:
    """Steady load from europe-west3's clients; ``part`` of the region taken down after 2 s, the load
    kept on until 3 s after the tier's health checks mark its endpoints down. Yields the load's
    outcomes, when the part went down, and the status rows then; on exit brings the part up and (unless
    the body failed) checks that locality returns."""
    await _until(lambda: _all_local(gateway))
    result = LoadResult()
    load = asyncio.ensure_future(
        # A closed-loop client re-sends an immediate 503 at once: hundreds a second while the region is dead.
        run_load(session, gateway.url, SHAPE, {WEST: 2}, duration_s=40, max_requests=50_000, result=result)
    )

    async def west_marked_down() -> bool:
        """the tier's health checks mark every europe-west3 endpoint down"""
        return (await gateway.healthy_endpoints(session))[WEST][0] == 0

    try:
        try:
            await asyncio.sleep(2)
            origin = time.monotonic()
            await gateway.take_down(WEST, part)
            await _until(west_marked_down)
            await asyncio.sleep(3)
            rows = {row.region: row for row in await gateway.status(session)}
        finally:
            load.cancel()
            await asyncio.gather(load, return_exceptions=True)
        yield result, origin, rows
    finally:
        await gateway.bring_up(WEST, part)  # leave the region up for the next test
    await _locality_returns(gateway, session)


def _after_the_move(result: LoadResult, origin: float) -> list[Outcome]:
    """The tier has reacted once its load balancer sends the region's clients elsewhere: the requests
    from the first one served by the other region on, which all went there, soon after ``origin``."""
    moved = min(o.started_s for o in result.outcomes if o.started_s > origin and o.served_region == EAST)
    after = [o for o in result.outcomes if o.started_s >= moved]
    assert len(after) >= 5, "too few requests after the tier moved the traffic"
    assert {o.served_region for o in after} == {EAST}
    # Envoy excludes a host one check after the admin shows it failed: (threshold + 1) checks, plus a
    # generous margin for a busy machine.
    assert moved - origin < CHECK_INTERVAL_S * 3 + 8
    return after


async def _locality_returns(gateway: RegionalGateway, session: aiohttp.ClientSession) -> None:
    async def west_healthy() -> bool:
        """every europe-west3 endpoint passes the tier's health checks again"""
        healthy, total = (await gateway.healthy_endpoints(session))[WEST]
        return healthy == total

    await _until(west_healthy)
    await _until(lambda: _all_local(gateway))
    back = await run_load(session, gateway.url, SHAPE, {WEST: 1}, duration_s=3, max_requests=20)
    assert back.failed() == []
    assert set(back.served(WEST)) == {WEST}


async def test_region_loss_moves_all_traffic_once_health_checks_react_and_recovery_restores_locality(
    gateway: RegionalGateway, session: aiohttp.ClientSession
) -> None:
    async with _west_down_under_load(gateway, session, RegionPart.REPLICAS) as (result, origin, _):
        # From the first request served by the other region, nothing may fail or go back.
        assert [o for o in _after_the_move(result, origin) if o.status != 200] == []


async def test_failed_health_checks_alone_move_all_traffic_without_a_lost_request_and_back(
    gateway: RegionalGateway, session: aiohttp.ClientSession
) -> None:
    """GKE's health checks failing while the pods run (a firewall rule, the check's path): the region's
    clients fail over once the checks mark it down; its replicas keep answering until then, so nothing
    is lost at any point; checks passing again restore locality."""
    async with _west_down_under_load(gateway, session, RegionPart.HEALTH) as (result, origin, rows):
        assert all(replica.replica.child.running for replica in gateway.gateways[WEST].replicas)
        assert rows[WEST].down == ("health",) and rows[WEST].healthy_endpoints == 0
        assert result.failed() == []  # before the move too
        _after_the_move(result, origin)
        assert rows[WEST].failed_over > 0  # the status view counts them as failed over, not spilled


async def test_a_regions_picker_lost_fails_its_clients_requests_with_failclose_not_over(
    gateway: RegionalGateway, session: aiohttp.ClientSession
) -> None:
    """The health checks probe the model servers, not the picker: with FailClose the region stays in
    rotation and its clients get 503 until the picker is back (a finding about the deployed setup)."""
    assert all(not pool.fail_open for pool in gateway.plan.region(WEST).plan.pools)
    await gateway.take_down(WEST, RegionPart.PICKER)
    try:
        await asyncio.sleep(CHECK_INTERVAL_S * 3)
        assert (await gateway.healthy_endpoints(session))[WEST][0] > 0
        during = await run_load(session, gateway.url, SHAPE, {WEST: 1}, duration_s=2, max_requests=10)
        assert during.outcomes and {o.status for o in during.outcomes} == {503}
        assert {o.served_region for o in during.outcomes} == {WEST}
    finally:
        await gateway.bring_up(WEST, RegionPart.PICKER)

    async def west_answers() -> bool:
        """europe-west3's clients are answered again once its picker is back"""
        probe = await run_load(session, gateway.url, SHAPE, {WEST: 1}, duration_s=0.5, max_requests=1)
        return probe.failed() == []

    await _until(west_answers)
    back = await run_load(session, gateway.url, SHAPE, {WEST: 1}, duration_s=2, max_requests=10)
    assert back.failed() == [] and set(back.served(WEST)) == {WEST}


async def test_infgw_region_commands_take_health_checks_down_and_up_through_the_control_endpoint(
    gateway: RegionalGateway,
) -> None:
    runner = CliRunner()

    async def infgw(*args: str) -> Result:
        return await asyncio.to_thread(runner.invoke, app, list(args))

    async with ControlServer(gateway) as control:
        down = await infgw("region", "down", WEST, "--what", "health", "--control", control.url)
        assert down.exit_code == 0, down.output
        assert json.loads(down.output) == {"region": WEST, "part": "health", "action": "down"}
        assert gateway.down[WEST] == {RegionPart.HEALTH}
        try:
            status = await infgw("region", "status", "--control", control.url)
            assert {row["region"]: row["down"] for row in json.loads(status.output)} == {
                WEST: ["health"],
                EAST: [],
            }
        finally:
            up = await infgw("region", "up", "gke-west", "--part", "health", "--control", control.url)
        assert up.exit_code == 0, up.output
        assert gateway.down[WEST] == set()
        wrong_part = await infgw("region", "down", WEST, "--what", "zone", "--control", control.url)
        assert wrong_part.exit_code == 2 and "replicas" in wrong_part.output and "health" in wrong_part.output
        unknown = await infgw("region", "down", "asia-east1", "--control", control.url)
        assert unknown.exit_code == 2 and "404" in unknown.output
