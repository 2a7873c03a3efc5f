"""A replica of the local gateway killed under load: Envoy's override-host routing retries the requests
it held, and those routed to it before the picker noticed, on the picker's fallbacks; no request is lost.

Its own gateway (two pools, the composed bootstrap: the three-replica FailClose pool loses a replica),
separate from test_local_gateway.py's, whose module-wide replicas must stay alive."""

from __future__ import annotations

import asyncio
import copy
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from local_gateway_stacks import LLAMA, QWEN, TWO_POOL_SERVICES, write_stack

from infgw.local.command import load_local_plan
from infgw.local.gateway import LocalGateway, RunningReplica
from infgw.local.gateway_options import GatewayOptions
from infgw.local.replica_status import fetch_replica_status

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

POOL = "llama"
REPLICAS = 3
CLIENTS = 4
LOAD_S = 4.0
MAX_REQUESTS = 400  # a bound on top of the duration
REQUEST_TIMEOUT_S = 20.0
# Each request spends 0.1 s before generating and ~0.2 s generating 32 tokens (H100 profile), so every
# replica holds requests most of the time and the victim dies with one in flight.
SIM_OVERRIDES = {"faults": {"extra_latency_s": 0.1}}
MAX_TOKENS = 32


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no HTTP answer
    replica: str
    started_s: float
    detail: str = ""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory, project_file: Path
) -> AsyncIterator[LocalGateway]:
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["pools"][0]["replicas"] = REPLICAS
    project = write_stack(tmp_path_factory.mktemp("replica-loss"), "replica-loss", services, project_file)
    plan = load_local_plan(
        "replica-loss", project, tmp_path_factory.mktemp("manifests"), sim_overrides=SIM_OVERRIDES
    )
    assert plan.pool(POOL).fail_open is False
    running = LocalGateway(plan, GatewayOptions(ready_timeout_s=90), tmp_path_factory.mktemp("gateway"))
    async with running:
        yield running
    assert not [child.name for child in running.supervisor.children if child.running]


async def closed_loop(url: str, deadline: float, answers: list[Answer]) -> None:
    """CLIENTS workers posting non-streaming completions back to back until ``deadline``; every answer
    is appended to ``answers`` as it arrives."""
    sent = 0

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while time.monotonic() < deadline and sent < MAX_REQUESTS:
            sent += 1
            body = {
                "model": LLAMA,
                "prompt": f"{sent} from client {index}: a gateway?",
                "max_tokens": MAX_TOKENS,
            }
            started = time.monotonic()
            try:
                async with session.post(f"{url}/v1/completions", json=body) as response:
                    text = await response.text()
                    answers.append(
                        Answer(
                            response.status,
                            response.headers.get("x-sim-replica", ""),
                            started,
                            "" if response.status == 200 else text[:200],
                        )
                    )
            except (aiohttp.ClientError, TimeoutError) as error:
                answers.append(Answer(0, "", started, repr(error)))

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(index, session) for index in range(CLIENTS)))


async def busy_replica(gateway: LocalGateway, served: Counter[str], deadline: float) -> RunningReplica:
    """A replica the picker is routing to (it served requests) that is generating one right now."""
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            for replica in gateway.replicas_of(POOL):
                if served[replica.name] == 0:
                    continue
                status = await fetch_replica_status(session, replica.name, replica.url, timeout_s=2.0)
                if status.running > 0:
                    return replica
            await asyncio.sleep(0.02)
    raise AssertionError(
        f"no replica of {POOL} was generating a routed request; served so far: {dict(served)}"
    )


async def picked_endpoint_retries(gateway: LocalGateway) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{gateway.admin_url}/stats?filter=picked_endpoint") as response:
            text = await response.text()
    # cluster.picked_endpoint/llama.upstream_rq_retry: N (the composed bootstrap's per-pool cluster)
    return sum(
        int(line.rpartition(":")[2])
        for line in text.splitlines()
        if line.startswith(f"cluster.picked_endpoint/{POOL}.upstream_rq_retry:")
    )


async def test_killing_a_replica_the_picker_routes_to_loses_no_request(gateway: LocalGateway) -> None:
    retries_before = await picked_endpoint_retries(gateway)
    deadline = time.monotonic() + LOAD_S
    answers: list[Answer] = []
    load = asyncio.ensure_future(closed_loop(gateway.url, deadline, answers))
    try:
        await asyncio.sleep(LOAD_S / 4)
        served_before = Counter(a.replica for a in answers if a.status == 200)
        victim = await busy_replica(gateway, served_before, deadline)
        served_before = Counter(a.replica for a in answers if a.status == 200)
        killed_at = time.monotonic()
        victim.replica.child.kill()
        await asyncio.wait_for(load, LOAD_S + REQUEST_TIMEOUT_S + 5)
    finally:
        if not load.done():
            load.cancel()
            await asyncio.gather(load, return_exceptions=True)

    lost = [a for a in answers if a.status != 200]
    served_after = Counter(a.replica for a in answers if a.status == 200 and a.started_s > killed_at)
    retries = await picked_endpoint_retries(gateway) - retries_before
    summary = (
        f"{len(answers)} requests, victim {victim.name} (served {served_before[victim.name]} before the kill), "
        f"after the kill {dict(served_after)}, Envoy retries {retries}"
    )
    print(f"\nlocal gateway, kill 1 of {REPLICAS}: {summary}, lost {len(lost)}")
    assert served_before[victim.name] > 0, summary
    assert lost == [], f"{summary}; lost: {lost[:5]}"
    assert sum(served_after.values()) > 0, summary
    assert victim.name not in served_after, summary
    # The request the victim was generating (and any routed to it before the picker dropped it) went to
    # a fallback: without the retry path it would have been lost, not retried.
    assert retries > 0, summary
    # The other pool, on its own picked-endpoint cluster, is untouched.
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{gateway.url}/v1/completions", json={"model": QWEN, "prompt": "still fine?", "max_tokens": 2}
        ) as response:
            assert response.status == 200
            assert response.headers["x-sim-replica"] in {r.name for r in gateway.replicas_of("qwen")}
