"""Replicas that misbehave without dying (hang, crawl, serve garbage metrics, cut streams) and the picker
itself killed and restarted, against one gateway of purpose-built fake replicas with two Envoys in
front of the same picker: FailClose ("main") and FailOpen ("fail_open")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from bench.soak.gateway import GatewayUnderTest, fake_replica, start_gateway, wait_until
from bench.soak.load import completion, post_once

FAKE_REPLICA_SCRIPT = Path(__file__).with_name("fake_replica.py")
pytestmark = pytest.mark.integration

ROUTE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayUnderTest]:
    work_dir: Path = tmp_path_factory.mktemp("degraded")
    replicas = [fake_replica(work_dir, f"fake-{i}", FAKE_REPLICA_SCRIPT) for i in range(3)]
    gateway = start_gateway(
        work_dir,
        replicas,
        max_endpoints=3,
        envoys={
            "main": {"route_timeout_s": ROUTE_TIMEOUT_S},
            "fail_open": {"fail_open": True, "route_timeout_s": ROUTE_TIMEOUT_S},
        },
    )
    yield gateway
    gateway.stop()
    assert gateway.leftover_processes() == []


@pytest.fixture(autouse=True)
def healthy_replicas(gateway: GatewayUnderTest) -> Iterator[None]:
    """Every test starts and ends with well-behaved replicas, all of them candidates."""
    for replica in gateway.replicas:
        replica.control(answer="normal", answer_delay_s=0.0, metrics="ok")
    wait_until(lambda: gateway.picker.ready_pods() == len(gateway.replicas), "all replicas are candidates")
    yield
    for replica in gateway.replicas:
        replica.control(answer="normal", answer_delay_s=0.0, metrics="ok")


async def _spaced_requests(url: str, count: int, spacing_s: float, stream: bool = False) -> list[int]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ROUTE_TIMEOUT_S + 10)) as session:
        tasks = []
        for index in range(count):
            body = completion(f"request {index} at {time.monotonic()}", stream=stream)
            tasks.append(asyncio.create_task(post_once(session, url, body)))
            await asyncio.sleep(spacing_s)
        return [outcome.status for outcome in await asyncio.gather(*tasks)]


async def test_hung_replica_times_out_and_traffic_moves_away(gateway: GatewayUnderTest) -> None:
    hung = gateway.replicas[0]
    hung.control(answer="hang")
    started = time.monotonic()
    statuses = await _spaced_requests(gateway.url(), count=15, spacing_s=0.05)
    elapsed = time.monotonic() - started
    received = hung.stats()["received"]
    print(f"\nhung replica: {received} of 15 requests reached it; statuses {statuses}; {elapsed:.1f} s")
    # Requests on the hung replica end with the route timeout (504), never a client-side hang.
    assert sorted(set(statuses)) in ([200], [200, 504])
    assert statuses.count(504) == received
    assert elapsed < ROUTE_TIMEOUT_S + 10
    # Its in-flight count grows, so the picker stops choosing it: well under a fair third.
    assert received <= 3


async def test_slow_replica_gets_less_traffic(gateway: GatewayUnderTest) -> None:
    slow = gateway.replicas[1]
    slow.control(answer_delay_s=0.5)
    statuses = await _spaced_requests(gateway.url(), count=24, spacing_s=0.05)
    received = slow.stats()["received"]
    print(f"\nslow replica (+0.5 s): {received} of 24 requests")
    assert statuses == [200] * 24
    assert received < 24 / 3


@pytest.mark.parametrize(
    "metrics_fault",
    [
        "garbage",
        "hang",
    ],
)
async def test_bad_metrics_endpoint_is_stale_and_the_scrape_loop_survives(
    gateway: GatewayUnderTest, metrics_fault: str
) -> None:
    sick = gateway.replicas[2]
    sick.control(metrics=metrics_fault)
    # A hanging scrape ends at the picker's scrape timeout (1 s), so allow a few of those.
    wait_until(
        lambda: gateway.picker.ready_pods() == 2, f"metrics {metrics_fault}: replica dropped", timeout_s=6
    )
    statuses = await _spaced_requests(gateway.url(), count=8, spacing_s=0.02)
    assert statuses == [200] * 8
    assert sick.stats()["received"] == 0
    sick.control(metrics="ok")
    wait_until(lambda: gateway.picker.ready_pods() == 3, "the scrape loop takes the replica back")
    assert gateway.picker.child.running


async def test_stream_cut_mid_way_ends_with_an_error_and_is_not_retried(gateway: GatewayUnderTest) -> None:
    for replica in gateway.replicas:
        replica.control(answer="cut_stream")
    received_chunks: list[bytes] = []
    error: BaseException | None = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        async with session.post(
            gateway.url() + "/v1/completions", json=completion("stream me", stream=True)
        ) as response:
            assert response.status == 200
            try:
                async for line in response.content:
                    received_chunks.append(line)
            except aiohttp.ClientPayloadError as payload_error:
                error = payload_error
    body = b"".join(received_chunks)
    assert b"t0" in body and b"[DONE]" not in body
    assert error is not None, "the cut stream ended as if complete"
    assert sum(r.stats()["received"] for r in gateway.replicas) == 1, "a started stream was retried"


async def test_picker_killed_fail_close_refuses_at_once_fail_open_keeps_serving(
    gateway: GatewayUnderTest,
) -> None:
    gateway.picker.child.kill()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        closed = await post_once(session, gateway.url("main"), completion("picker down"))
        opened = [
            await post_once(session, gateway.url("fail_open"), completion(f"down {i}")) for i in range(6)
        ]
    print(f"\npicker down: FailClose {closed.status} in {closed.latency_s:.3f} s; "
          f"FailOpen {[o.status for o in opened]}")  # fmt: skip
    assert closed.status in (500, 503) and closed.latency_s < 5.0
    assert [o.status for o in opened] == [200] * 6
    assert len({o.replica for o in opened}) > 1, "FailOpen traffic goes round-robin over the pool"

    gateway.picker.restart_blocking()  # same ports: Envoy's config names them
    wait_until(lambda: gateway.picker.ready_pods() == 3, "the restarted picker rebuilt its pool")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        for envoy in ("main", "fail_open"):
            outcome = await post_once(session, gateway.url(envoy), completion(f"picker back {envoy}"))
            assert outcome.status == 200, (envoy, outcome)
    samples = gateway.picker.metrics()
    routed = sum(v for k, v in samples.items() if k.startswith("inference_objective_request_total"))
    assert routed >= 2, "the restarted picker routed the requests"
