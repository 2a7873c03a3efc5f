"""Overload through the gateway: sheddable traffic (an objective with priority < 0) floods at several
times capacity while a priority >= 0 client streams; records that client's TTFT, how fast the flood is
refused with 429, the replicas' waiting queues and requests in the system, and the picker's memory.

The flood runs in its own process: a 429 comes back in milliseconds, so 16 clients posting back to back
keep an event loop busy, and sharing one with the critical client would delay when its first token is
read and count the client's own backlog as gateway TTFT."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
import os
import queue
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.soak.gateway import GatewayUnderTest
from bench.soak.load import completion, post_once

OBJECTIVE_HEADER = "x-gateway-inference-objective"
CRITICAL = "critical"
SHEDDABLE = "batch"
OBJECTIVES = {CRITICAL: 10, SHEDDABLE: -1}
# Small replicas so a laptop can overload them: 2 sequences at a time, steps 4x slower than an H100.
SIM_ARGS = ("--max-num-seqs", "2", "--slowdown-factor", "4")


@dataclass
class OverloadResult:
    critical_ttft_s: list[float] = field(default_factory=list)
    critical_statuses: Counter[int] = field(default_factory=Counter)
    sheddable_statuses: Counter[int] = field(default_factory=Counter)
    rejection_latency_s: list[float] = field(default_factory=list)
    max_waiting_per_replica: int = 0
    max_in_system_per_replica: int = 0  # running + waiting, sampled every 0.2 s
    picker_cpu_s: float = 0.0  # the picker process's CPU time (user + system) over the run
    picker_rss_kib: tuple[int, int] = (0, 0)  # before, after
    duration_s: float = 0.0  # from the first critical request to the last one's end
    preemptions: int = 0  # vllm:num_preemptions_total over the replicas, during the run
    recomputed_tokens: int = 0  # sim:recomputed_tokens_total over the replicas, during the run


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


@dataclass(frozen=True)
class ReplicaLoad:
    running: int  # vllm:num_requests_running, summed over the replica's series
    waiting: int  # vllm:num_requests_waiting, likewise
    preemptions: int = 0  # vllm:num_preemptions_total (cumulative)
    recomputed_tokens: int = 0  # sim:recomputed_tokens_total (cumulative; the simulator's own counter)


def replica_load(replica_url: str) -> ReplicaLoad:
    """One scrape of the replica's running and waiting request gauges and its preemption counters."""
    with urllib.request.urlopen(replica_url + "/metrics", timeout=5) as response:
        text = response.read().decode()

    def total(name: str) -> int:
        return int(
            sum(
                float(line.rpartition(" ")[2])
                for line in text.splitlines()
                if line.startswith(name + "{") or line.startswith(name + " ")
            )
        )

    return ReplicaLoad(
        total("vllm:num_requests_running"),
        total("vllm:num_requests_waiting"),
        total("vllm:num_preemptions_total"),
        total("sim:recomputed_tokens_total"),
    )


@dataclass(frozen=True)
class FloodSettings:
    url: str
    workers: int
    max_requests: int
    pause_after_429_s: float = 0.0  # 0 = back to back; > 0 = a client that backs off when refused


@dataclass
class FloodOutcome:
    statuses: Counter[int] = field(default_factory=Counter)
    rejection_latency_s: list[float] = field(default_factory=list)


async def flood(
    settings: FloodSettings,
    started: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
) -> FloodOutcome:
    """``settings.workers`` sheddable clients posting back to back until ``stop`` is set (bounded by
    ``settings.max_requests`` in all)."""
    outcome = FloodOutcome()
    sent = 0

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while not stop.is_set() and sent < settings.max_requests:
            sent += 1
            answer = await post_once(
                session,
                settings.url,
                completion(f"batch job {index}-{sent}", max_tokens=32),
                {OBJECTIVE_HEADER: SHEDDABLE},
            )
            outcome.statuses[answer.status] += 1
            if answer.status == 429:
                outcome.rejection_latency_s.append(answer.latency_s)
                if settings.pause_after_429_s > 0:
                    await asyncio.sleep(settings.pause_after_429_s)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        started.set()
        await asyncio.gather(*(worker(i, session) for i in range(settings.workers)))
    return outcome


def flood_process_main(
    settings: FloodSettings,
    started: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    results: multiprocessing.Queue[FloodOutcome],
) -> None:
    results.put(asyncio.run(flood(settings, started, stop)))


async def run_overload(
    gateway: GatewayUnderTest,
    *,
    critical_requests: int,
    flood_workers: int,
    flood: bool = True,
    max_flood_requests: int = 100_000,
    flood_pause_after_429_s: float = 0.0,
) -> OverloadResult:
    """``critical_requests`` streamed one after another; with ``flood``, ``flood_workers`` sheddable
    clients (another process) post back to back until the critical client is done (bounded by
    ``max_flood_requests``)."""
    result = OverloadResult()
    counters_before = [replica_load(r.url) for r in gateway.replicas]
    rss_before = gateway.picker.child.rss_kib()
    picker_cpu_before = process_cpu_s(gateway.picker.child.pid)
    done = asyncio.Event()

    async def watch_queues() -> None:
        while not done.is_set():
            loads = await asyncio.to_thread(lambda: [replica_load(r.url) for r in gateway.replicas])
            result.max_waiting_per_replica = max(result.max_waiting_per_replica, *(x.waiting for x in loads))
            result.max_in_system_per_replica = max(
                result.max_in_system_per_replica, *(x.running + x.waiting for x in loads)
            )
            await asyncio.sleep(0.2)

    context = multiprocessing.get_context("spawn")
    started, stop = context.Event(), context.Event()
    results: multiprocessing.Queue[FloodOutcome] = context.Queue()
    flooder = context.Process(
        target=flood_process_main,
        args=(
            FloodSettings(gateway.url(), flood_workers, max_flood_requests, flood_pause_after_429_s),
            started,
            stop,
            results,
        ),
        name="overload-flood",
        daemon=True,
    )
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        watcher = asyncio.create_task(watch_queues())
        try:
            if flood:
                flooder.start()
                if not await asyncio.to_thread(started.wait, 30.0):
                    raise RuntimeError("the flood process did not start within 30 s")
                await asyncio.sleep(1.0)  # let the flood saturate the replicas first
            started_s = time.monotonic()
            for index in range(critical_requests):
                status, ttft = await streamed_ttft(session, gateway.url(), f"critical question {index}")
                result.critical_statuses[status] += 1
                if status == 200:
                    result.critical_ttft_s.append(ttft)
            result.duration_s = time.monotonic() - started_s
        finally:
            done.set()
            stop.set()
            await watcher
            if flooder.pid is not None:
                await collect_flood(flooder, results, result)
    counters_after = [replica_load(r.url) for r in gateway.replicas]
    result.preemptions = sum(
        a.preemptions - b.preemptions for a, b in zip(counters_after, counters_before, strict=True)
    )
    result.recomputed_tokens = sum(
        a.recomputed_tokens - b.recomputed_tokens
        for a, b in zip(counters_after, counters_before, strict=True)
    )
    result.picker_rss_kib = (rss_before, gateway.picker.child.rss_kib())
    result.picker_cpu_s = process_cpu_s(gateway.picker.child.pid) - picker_cpu_before
    return result


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def collect_flood(
    flooder: multiprocessing.process.BaseProcess,
    results: multiprocessing.Queue[FloodOutcome],
    result: OverloadResult,
) -> None:
    """Wait for the stopped flood's counts (its clients finish their requests in flight) and the process."""
    try:
        outcome = await asyncio.to_thread(results.get, True, 90.0)  # in-flight requests time out at 60 s
    except queue.Empty:
        flooder.kill()
        raise RuntimeError("the flood process did not report within 90 s") from None
    finally:
        await asyncio.to_thread(flooder.join, 10.0)
        if flooder.is_alive():
            flooder.kill()
            await asyncio.to_thread(flooder.join, 10.0)
    result.sheddable_statuses.update(outcome.statuses)
    result.rejection_latency_s.extend(outcome.rejection_latency_s)
