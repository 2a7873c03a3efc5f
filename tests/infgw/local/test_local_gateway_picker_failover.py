"""Two picker replicas with leader election behind the local gateway: one serves, and when it stops the
other takes the lease and Envoy follows it. The seam between the stack (`picker.replicas: 2` renders
`--ha-enable-leader-election`), the picker's election and Envoy's health checks."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from local_gateway_stacks import LLAMA, TWO_POOL_SERVICES, write_stack

from infgw.launch.picker_process import PickerProcess
from infgw.local.command import load_local_plan
from infgw.local.gateway import LOOPBACK, LocalGateway
from infgw.local.gateway_options import GatewayOptions

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def serving(picker: PickerProcess) -> bool:
    async with grpc.aio.insecure_channel(f"{LOOPBACK}:{picker.health_port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="readiness"), timeout=2.0
            )
        except grpc.aio.AioRpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def completion_status(session: aiohttp.ClientSession, url: str) -> int:
    body = {"model": LLAMA, "prompt": "hello", "max_tokens": 2}
    async with session.post(f"{url}/v1/completions", json=body, timeout=aiohttp.ClientTimeout(total=10)) as response:
        await response.read()
        return response.status


async def test_the_other_picker_takes_over_when_the_leader_stops(
    project_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["pools"] = services["pools"][:1]
    services["pools"][0] |= {"replicas": 1, "picker": {"replicas": 2}}
    project = write_stack(tmp_path_factory.mktemp("ha"), "ha", services, project_file)
    plan = load_local_plan(
        "ha", project, tmp_path_factory.mktemp("manifests"), sim_overrides={"profile": "zero-latency"}
    )
    assert plan.pool("llama").picker.replicas == 2
    async with LocalGateway(plan, GatewayOptions(ready_timeout_s=90), tmp_path_factory.mktemp("gw")) as gateway:
        pickers = gateway.picker_replicas["llama"]
        assert len(pickers) == 2
        states = [await serving(picker) for picker in pickers]
        assert states.count(True) == 1, states  # exactly one leader serves
        leader, follower = (pickers[0], pickers[1]) if states[0] else (pickers[1], pickers[0])
        async with aiohttp.ClientSession() as session:
            assert await completion_status(session, gateway.url) == 200
            await leader.child.stop()  # SIGTERM: the leader releases the lease on its way out
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 45
            while loop.time() < deadline and not await serving(follower):
                await asyncio.sleep(0.5)
            assert await serving(follower), "the follower never took the lease"
            # Envoy's health check (every 2 s) moves streams to the new leader.
            statuses: list[int] = []
            while loop.time() < deadline:
                statuses.append(await completion_status(session, gateway.url))
                if statuses[-3:] == [200, 200, 200]:
                    break
                await asyncio.sleep(0.5)
            assert statuses[-3:] == [200, 200, 200], statuses


async def test_precise_pickers_run_active_active_and_both_route(
    project_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`picker.replicas: 2` with the precise profile renders no leader election: the local gateway starts
    both, both report SERVING, Envoy spreads streams over them (each counts requests it routed), and each
    applies the placements the other made (the stack's placement sharing, on a loopback port each)."""
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["pools"] = services["pools"][:1]
    services["pools"][0] |= {"replicas": 2, "picker": {"replicas": 2, "profile": "precise"}}
    project = write_stack(tmp_path_factory.mktemp("aa"), "aa", services, project_file)
    plan = load_local_plan(
        "aa", project, tmp_path_factory.mktemp("manifests"), sim_overrides={"profile": "zero-latency"}
    )
    assert "--ha-enable-leader-election" not in plan.pool("llama").picker.args
    work = tmp_path_factory.mktemp("gw")
    async with LocalGateway(plan, GatewayOptions(ready_timeout_s=90), work) as gateway:
        pickers = gateway.picker_replicas["llama"]
        assert len(pickers) == 2 and gateway.lease_api is None
        token = next((work / "pickers" / "llama").rglob("token")).read_text()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline and not all([await serving(picker) for picker in pickers]):
            await asyncio.sleep(0.2)
        assert all([await serving(picker) for picker in pickers])
        async with aiohttp.ClientSession() as session:

            async def counted(prefix: str) -> list[float]:
                counts = []
                for picker in pickers:
                    headers = {"Authorization": f"Bearer {token}"}
                    async with session.get(picker.metrics_url, headers=headers) as response:
                        text = await response.text()
                    counts.append(
                        sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))
                    )
                return counts

            async def routed() -> list[float]:
                return await counted("inference_objective_request_total{")

            # Envoy health-checks each picker every 2 s: once both pass, streams alternate between them.
            statuses: list[int] = []
            while loop.time() < deadline + 30 and min(await routed()) == 0:
                statuses += [await completion_status(session, gateway.url) for _ in range(4)]
                await asyncio.sleep(0.5)
            assert set(statuses) == {200}
            assert min(await routed()) > 0, await routed()
            # Placements are of whole prompt blocks: prompts long enough to fill some, on both pickers.
            received = 'inference_extension_shared_placements_total{direction="received"}'
            prompt = "A long shared context paragraph about pizza ovens and dough. " * 20
            index = 0
            while loop.time() < deadline + 40 and min(await counted(received)) == 0:
                body = {"model": LLAMA, "prompt": f"{prompt} question {index}", "max_tokens": 2}
                async with session.post(f"{gateway.url}/v1/completions", json=body) as response:
                    assert response.status == 200
                index += 1
                await asyncio.sleep(0.1)
            sent = 'inference_extension_shared_placements_total{direction="sent"}'
            assert min(await counted(received)) > 0, (await counted(received), await counted(sent))
