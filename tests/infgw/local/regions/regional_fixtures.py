"""Shared settings of the two-region gateway tests: a small KV cache so a few clients fill it, and the
rendered HealthCheckPolicy checking every second so a region loss is detected within seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from infgw.local.regions.command import load_regional_plan
from infgw.local.regions.gateway import RegionalGateway
from infgw.local.regions.load import SMALL_KV_CACHE, LoadResult, RequestShape, record_reported, run_load
from infgw.local.regions.manifest_edits import edited_copy
from infgw.local.regions.regional_options import RegionalOptions
from infgw.local.regions.regional_plan import RegionalPlan

WEST, EAST = "europe-west3", "us-east4"
MODEL = "food-review-1"
SIM_OVERRIDES = SMALL_KV_CACHE
REPLICAS = 2
CHECK_INTERVAL_S = 1


def fast_health_checks(policy: dict[str, Any]) -> None:
    policy["spec"]["default"]["checkIntervalSec"] = CHECK_INTERVAL_S
    policy["spec"]["default"]["timeoutSec"] = CHECK_INTERVAL_S


def regional_plan_from(manifests: Path, notes: list[str]) -> RegionalPlan:
    return load_regional_plan(
        manifests, notes, stack="dev", replicas=REPLICAS, seed=0, sim_overrides=SIM_OVERRIDES
    )


def plan_with_edits(source: Path, notes: list[str], target: Path, **edits: Any) -> RegionalPlan:
    """The dev stack's regional plan from a copy of its manifests, each kind edited by ``edits[kind]``."""
    current = source
    for index, (kind, edit) in enumerate(edits.items()):
        current = edited_copy(current, target / f"{index}-{kind}", kind, edit)
    return regional_plan_from(current, notes)


@contextlib.asynccontextmanager
async def fast_checking_gateway(
    tmp_path_factory: pytest.TempPathFactory, dev_manifests: tuple[Path, list[str]], **edits: Any
) -> AsyncIterator[RegionalGateway]:
    """The two-region gateway of the dev stack's manifests with 1 s health checks and ``edits``."""
    source, notes = dev_manifests
    plan = plan_with_edits(
        source, notes, tmp_path_factory.mktemp("edited"), HealthCheckPolicy=fast_health_checks, **edits
    )
    options = RegionalOptions(report_delay_s=0.5, ready_timeout_s=90)
    async with RegionalGateway(plan, options, tmp_path_factory.mktemp("regional")) as running:
        yield running


# The load that spills at the dev stack's 60% target (test_regional_gateway.py): one region's clients.
SPILL_CLIENTS = 12
SPILL_DURATION_S = 20.0
SPILL_MAX_REQUESTS = 800


async def spilling_load(gateway: RegionalGateway, session: aiohttp.ClientSession) -> tuple[LoadResult, float]:
    """The spilling load from europe-west3's clients, and the highest utilization the tier saw reported."""
    samples: list[float] = []
    watcher = asyncio.ensure_future(record_reported(gateway, WEST, samples))
    try:
        result = await run_load(
            session,
            gateway.url,
            RequestShape(model=MODEL),
            {WEST: SPILL_CLIENTS},
            SPILL_DURATION_S,
            SPILL_MAX_REQUESTS,
        )
    finally:
        watcher.cancel()
    return result, max(samples, default=0.0)
