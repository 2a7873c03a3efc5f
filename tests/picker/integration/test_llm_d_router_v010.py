"""llm-d-router v0.10 as a drop-in, end to end through real Envoy and the real picker process: the guide's
"sticky until saturated" config (llm-d.ai/v1alpha1, current parameter names: the shipped llm-d-default
profile) loads and routes, the x-llm-d-* headers are read and stripped, and one scrape shows the same
traffic under the llm_d_epp_* and the GIE v1.1 metric names."""

from __future__ import annotations

import asyncio

import pytest
from picker.profiles import profile_text

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SHARED_CONTEXT = "You are a careful assistant. Answer from the manual below. " * 40  # ~2.4k chars, 9 blocks
LLM_D_HEADERS = {"x-llm-d-inference-objective": "interactive", "x-llm-d-inference-fairness-id": "tenant-a"}


async def scrape(gateway) -> str:
    async with gateway.session.get(f"http://127.0.0.1:{gateway.picker.metrics_port}/metrics") as response:
        return await response.text()


async def test_the_v0_10_guide_config_routes_sticky_and_reports_both_metric_generations(gateway, tmp_path):
    config = tmp_path / "llm-d-guide.yaml"
    config.write_text(profile_text("llm-d-default"))
    gw = await gateway(("a", "b", "c"), picker_args=("--config-file", str(config)), objectives={"interactive": 10})

    served = []
    for turn in range(6):
        status, body = await gw.complete(SHARED_CONTEXT + f" Question {turn}?", **LLM_D_HEADERS)
        assert status == 200, body
        served.append(body["served_by"])
    # The first request places the context; every later one shares 9 of its ~10 blocks (>= 0.80): sticky.
    assert set(served) == {served[0]}, served
    received = gw.upstreams[served[0]].received[-1]["headers"]
    assert not [name for name in received if name.startswith(("x-llm-d-", "x-gateway-inference"))]

    v010 = 'model_name="m",priority="10",target_model_name="m"'
    expected_new = f'llm_d_epp_request_total{{fairness_id="tenant-a",{v010}}} 6.0'
    expected_old = 'inference_objective_request_total{model_name="m",target_model_name="m"} 6.0'
    async with asyncio.timeout(5):
        while True:
            metrics = await scrape(gw)
            if expected_new in metrics and expected_old in metrics:
                break
            await asyncio.sleep(0.05)
    assert "llm_d_epp_request_duration_seconds_count" in metrics
    assert "inference_objective_request_duration_seconds_count" in metrics
