"""The soak: a local gateway of simulator replicas held at a fraction of its measured capacity for N
minutes (open loop, seeded Poisson arrivals, shared-prefix prompts); prints a table per interval and
a verdict on errors, picker RSS growth and the prefix index."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.soak.gateway import GatewayUnderTest, sim_replica, start_gateway
from bench.soak.load import Outcome, completion, post_once, run_load
from bench.stats.percentiles import percentile_or_nan

PREFIX_INDEX_METRIC = "inference_extension_prefix_indexer_size"
# The prefix-cache scorer's default LRU capacity per endpoint (PLUGINS.md): the index's hard bound.
LRU_CAPACITY_PER_ENDPOINT = 31_250
SYSTEM_PROMPTS = 16  # conversations share one of these prefixes, so the prefix index has work to do


@dataclass
class SoakSample:
    elapsed_s: float
    sent: int
    ok: int
    errors: int
    p50_s: float
    p90_s: float
    picker_rss_kib: int
    prefix_index_size: int


@dataclass
class SoakReport:
    capacity_rps: float
    target_rps: float
    samples: list[SoakSample] = field(default_factory=list)
    error_statuses: dict[int, int] = field(default_factory=dict)
    error_messages: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(self.error_statuses.values())

    @property
    def rss_growth(self) -> float:
        """Picker RSS at the end over RSS after the first interval (warm-up excluded)."""
        first, last = self.samples[0].picker_rss_kib, self.samples[-1].picker_rss_kib
        return (last - first) / first


def shared_prefix_prompt(rng: random.Random, index: int) -> str:
    system = (
        f"System prompt {rng.randrange(SYSTEM_PROMPTS)}: you are a careful assistant for platform teams. " * 4
    )
    return f"{system}Question {index}: how do I size an inference pool for {rng.randrange(10_000)} users?"


async def measure_capacity(gateway: GatewayUnderTest, seconds: float, workers: int) -> float:
    """Completed requests per second with ``workers`` clients back to back (the saturation throughput)."""
    result = await run_load(gateway.url(), workers=workers, duration_s=seconds)
    return sum(1 for o in result.outcomes if o.status == 200) / seconds


async def soak(gateway: GatewayUnderTest, minutes: float, load_fraction: float, seed: int, interval_s: float,
               capacity_rps: float) -> SoakReport:  # fmt: skip
    rng = random.Random(seed)
    report = SoakReport(capacity_rps=capacity_rps, target_rps=capacity_rps * load_fraction)
    outcomes: list[Outcome] = []
    in_flight: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    deadline = started + minutes * 60

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        outcomes.append(
            await post_once(session, gateway.url(), completion(shared_prefix_prompt(rng, index), 16))
        )

    def sample() -> SoakSample:
        window = [o for o in outcomes if o.started_s >= time.monotonic() - interval_s and o.status == 200]
        latencies = [o.latency_s for o in window]
        metrics = gateway.picker.metrics()
        return SoakSample(
            elapsed_s=time.monotonic() - started,
            sent=len(outcomes) + len(in_flight),
            ok=sum(1 for o in outcomes if o.status == 200),
            errors=sum(1 for o in outcomes if o.status != 200),
            p50_s=percentile_or_nan(latencies, 50),
            p90_s=percentile_or_nan(latencies, 90),
            picker_rss_kib=gateway.picker.child.rss_kib(),
            prefix_index_size=int(metrics.get(PREFIX_INDEX_METRIC, 0)),
        )

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        index = 0
        next_sample = started + interval_s
        next_arrival = started
        while time.monotonic() < deadline:
            index += 1
            task = asyncio.create_task(one(session, index))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            # Arrivals on an absolute schedule: a late wake-up sends the next request sooner instead of
            # lowering the offered rate.
            next_arrival += rng.expovariate(report.target_rps)
            await asyncio.sleep(max(0.0, next_arrival - time.monotonic()))
            if time.monotonic() >= next_sample:
                report.samples.append(await asyncio.to_thread(sample))
                print_sample(report.samples[-1])
                next_sample += interval_s
        await asyncio.gather(*in_flight)
    report.samples.append(sample())
    print_sample(report.samples[-1])
    for outcome in outcomes:
        if outcome.status != 200:
            report.error_statuses[outcome.status] = report.error_statuses.get(outcome.status, 0) + 1
            message = f"{outcome.status} {outcome.error}"
            report.error_messages[message] = report.error_messages.get(message, 0) + 1
    return report


def print_header() -> None:
    print(f"{'t (s)':>7} {'sent':>7} {'ok':>7} {'errors':>6} {'p50 (s)':>8} {'p90 (s)':>8} "
          f"{'picker RSS (MiB)':>16} {'prefix index':>12}", flush=True)  # fmt: skip


def print_sample(s: SoakSample) -> None:
    print(f"{s.elapsed_s:7.0f} {s.sent:7d} {s.ok:7d} {s.errors:6d} {s.p50_s:8.3f} {s.p90_s:8.3f} "
          f"{s.picker_rss_kib / 1024:16.1f} {s.prefix_index_size:12d}", flush=True)  # fmt: skip


async def run_soak(
    minutes: float,
    replicas: int,
    load_fraction: float,
    seed: int,
    interval_s: float,
    prefix_lru_capacity: int = LRU_CAPACITY_PER_ENDPOINT,
) -> int:
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        work_dir = Path(work)
        gateway = start_gateway(
            work_dir,
            [sim_replica(work_dir, f"replica-{i}") for i in range(replicas)],
            prefix_lru_capacity=prefix_lru_capacity,
        )
        try:
            capacity = await measure_capacity(gateway, seconds=20, workers=32)
            print(f"capacity: {capacity:.1f} req/s with 32 clients; soaking at {load_fraction:.0%} = "
                  f"{capacity * load_fraction:.1f} req/s for {minutes} min ({replicas} replicas, seed {seed})")  # fmt: skip
            print_header()
            report = await soak(gateway, minutes, load_fraction, seed, interval_s, capacity)
        finally:
            gateway.stop()
    bound = prefix_lru_capacity * replicas
    peak_index = max(s.prefix_index_size for s in report.samples)
    print()
    print(f"errors: {report.errors} of {report.samples[-1].sent} {report.error_statuses or ''} (target 0)")
    for message, count in sorted(report.error_messages.items(), key=lambda item: -item[1])[:5]:
        print(f"  {count} x {message}")
    achieved = report.samples[-1].sent / (report.samples[-1].elapsed_s or 1)
    print(f"offered load: {achieved:.1f} req/s achieved of {report.target_rps:.1f} targeted")
    print(f"picker RSS growth after the first interval: {report.rss_growth:+.1%} (target < 10%)")
    print(f"prefix index: peak {peak_index} entries, bound {bound} ({prefix_lru_capacity} per replica)")
    verdict = report.errors == 0 and report.rss_growth < 0.10 and peak_index <= bound
    print("verdict:", "PASS" if verdict else "FAIL")
    return 0 if verdict else 1
