"""Overload through the gateway: sheddable traffic (an objective with priority < 0) floods at several
times capacity while a priority >= 0 client streams; records that client's TTFT, how fast the flood is
refused with 429, the replicas' waiting queues and the picker's memory."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bench.soak.gateway import GatewayUnderTest
from bench.soak.load import completion, post_once

OBJECTIVE_HEADER = "x-gateway-inference-objective"
CRITICAL = "critical"
SHEDDABLE = "batch"
OBJECTIVES = {CRITICAL: 10, SHEDDABLE: -1}
# Small replicas so a laptop can overload them: 2 sequences at a time, steps 4x slower than an H100.
SIM_ARGS = ("--max-num-seqs", "2", "--slowdown-factor", "4")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class OverloadResult:
    critical_ttft_s: list[float] = field(default_factory=list)
    critical_statuses: Counter[int] = field(default_factory=Counter)
    sheddable_statuses: Counter[int] = field(default_factory=Counter)
    rejection_latency_s: list[float] = field(default_factory=list)
    max_waiting_per_replica: int = 0
    picker_rss_kib: tuple[int, int] = (0, 0)  # before, after


async def streamed_ttft(session: aiohttp.ClientSession, url: str, prompt: str) -> tuple[int, float]:
    """Status and seconds to the first token chunk of a streamed completion (NaN when refused)."""
    started = time.monotonic()
    body = completion(prompt, max_tokens=16, stream=True)
    async with session.post(
        url + "/v1/completions", json=body, headers={OBJECTIVE_HEADER: CRITICAL}
    ) as response:
        if response.status != 200:
            await response.read()
            return response.status, float("nan")
        ttft = float("nan")
        async for line in response.content:
            if line.startswith(b"data: {") and ttft != ttft:
                ttft = time.monotonic() - started
        return 200, ttft


def waiting_requests(replica_url: str) -> int:
    """vllm:num_requests_waiting summed over the replica's series."""
    with urllib.request.urlopen(replica_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(
        sum(
            float(line.rpartition(" ")[2])
            for line in text.splitlines()
            if line.startswith("vllm:num_requests_waiting")
        )
    )


async def run_overload(
    gateway: GatewayUnderTest,
    *,
    critical_requests: int,
    flood_workers: int,
    flood: bool = True,
    max_flood_requests: int = 5_000,
) -> OverloadResult:
    """``critical_requests`` streamed one after another; with ``flood``, ``flood_workers`` sheddable
    clients post back to back until the critical client is done (bounded by ``max_flood_requests``)."""
    result = OverloadResult()
    assert gateway.picker.child is not None
    rss_before = gateway.picker.child.rss_kib()
    done = asyncio.Event()
    flood_sent = 0

    async def flood_worker(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal flood_sent
        while not done.is_set() and flood_sent < max_flood_requests:
            flood_sent += 1
            outcome = await post_once(
                session,
                gateway.url(),
                completion(f"batch job {index}-{flood_sent}", max_tokens=32),
                {OBJECTIVE_HEADER: SHEDDABLE},
            )
            result.sheddable_statuses[outcome.status] += 1
            if outcome.status == 429:
                result.rejection_latency_s.append(outcome.latency_s)

    async def watch_queues() -> None:
        while not done.is_set():
            waiting = await asyncio.to_thread(lambda: max(waiting_requests(r.url) for r in gateway.replicas))
            result.max_waiting_per_replica = max(result.max_waiting_per_replica, waiting)
            await asyncio.sleep(0.2)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        background = [asyncio.create_task(watch_queues())]
        if flood:
            background += [asyncio.create_task(flood_worker(i, session)) for i in range(flood_workers)]
            await asyncio.sleep(1.0)  # let the flood saturate the replicas first
        try:
            for index in range(critical_requests):
                status, ttft = await streamed_ttft(session, gateway.url(), f"critical question {index}")
                result.critical_statuses[status] += 1
                if status == 200:
                    result.critical_ttft_s.append(ttft)
        finally:
            done.set()
            await asyncio.gather(*background)
    result.picker_rss_kib = (rss_before, gateway.picker.child.rss_kib())
    return result
