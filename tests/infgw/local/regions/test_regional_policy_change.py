"""A change to the rendered GCPBackendPolicy changes what the local tier does: the load that spills at
the dev stack's maxUtilizationPercent 60 (test_regional_gateway.py) stays in its region at 100, where no
utilization can exceed the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from regional_fixtures import WEST, plan_with_edits, spilling_load

from infgw.local.regions.gateway import RegionalGateway
from infgw.local.regions.regional_options import RegionalOptions

pytestmark = [pytest.mark.integration]


def no_spill_target(policy: dict[str, Any]) -> None:
    policy["spec"]["default"]["customMetrics"][0]["maxUtilizationPercent"] = 100


async def test_a_target_of_100_percent_keeps_the_spilling_load_in_region(
    tmp_path: Path, dev_manifests: tuple[Path, list[str]]
) -> None:
    source, notes = dev_manifests
    plan = plan_with_edits(source, notes, tmp_path / "edited", GCPBackendPolicy=no_spill_target)
    assert plan.tier.max_utilization == 1.0
    options = RegionalOptions(report_delay_s=0.5, ready_timeout_s=90)
    async with (
        RegionalGateway(plan, options, tmp_path / "regional") as gateway,
        aiohttp.ClientSession() as session,
    ):
        result, peak = await spilling_load(gateway, session)
    assert peak > 0.6  # above the dev stack's rendered target: this load spills there
    assert result.failed() == []
    assert set(result.served(WEST)) == {WEST}
    assert gateway.controller.shares[WEST] == 1.0
