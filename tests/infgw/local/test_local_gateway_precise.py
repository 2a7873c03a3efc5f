"""The precise profile through `make local`'s path: the stack renders `--kv-events-config` for vLLM and the
picker's ConfigMap names the ports; locally each replica publishes on its own port (base + rank) and the
picker, told the bases, subscribes to every one and indexes what they store."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import aiohttp
import pytest
from local_gateway_stacks import LLAMA, TWO_POOL_SERVICES, write_stack

from infgw.local.command import load_local_plan
from infgw.local.gateway import LocalGateway
from infgw.local.gateway_options import GatewayOptions
from infgw.plan.pool_wiring import flag_value

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def metric_total(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_precise_picker_indexes_the_replicas_events(
    project_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["pools"] = services["pools"][:1]
    services["pools"][0] |= {"replicas": 2, "picker": {"profile": "precise"}}
    project = write_stack(tmp_path_factory.mktemp("precise"), "precise", services, project_file)
    plan = load_local_plan(
        "precise", project, tmp_path_factory.mktemp("manifests"), sim_overrides={"profile": "zero-latency"}
    )
    # The rendered vLLM command line carries the publisher the picker's profile dials.
    assert flag_value(plan.pool("llama").replicas[0].server_args, "--kv-events-config") is not None
    work = tmp_path_factory.mktemp("gw")
    async with LocalGateway(plan, GatewayOptions(ready_timeout_s=90), work) as gateway:
        _, replay_base = gateway.event_ports["llama"]
        assert replay_base is not None
        token = next((work / "pickers" / "llama").rglob("token")).read_text()
        prompt = "A long shared context paragraph about pizza ovens and dough. " * 40
        async with aiohttp.ClientSession() as session:
            for index in range(3):
                body = {"model": LLAMA, "prompt": f"{prompt} question {index}", "max_tokens": 4}
                async with session.post(f"{gateway.url}/v1/completions", json=body) as response:
                    assert response.status == 200
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 45
            received = 0.0
            while loop.time() < deadline and received == 0:
                async with session.get(
                    gateway.pickers["llama"].metrics_url, headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    received = metric_total(await response.text(), "inference_extension_kv_events_total")
                await asyncio.sleep(0.5)
        assert received > 0, "the picker received no KV event from the replicas"
