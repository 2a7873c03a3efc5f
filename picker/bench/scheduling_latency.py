"""Scheduling decision time of the picker's Director: p50/p99 per pool size, prompt length and profile.

Times ``Director.route`` + ``release`` in-process (snapshot, admission, flow-control fast path, filters,
scorers, picker, prefix-index update) on a seeded workload of prompts that share system prompts, while
scrapes keep arriving (a 50 ms scrape interval at the offered rate). Prints a table and, per cell, the
ratio of the project profile to the EPP default profile. Not a test: run it by hand.

    .venv/bin/python picker/bench/scheduling_latency.py [--seed 1] [--decisions 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from dataclasses import dataclass

from picker.config.model import EndpointPickerConfig
from picker.datastore.store import EndpointStore
from picker.factory import build_director
from picker.framework.clock import RealClock
from picker.framework.types import Endpoint, EndpointMetrics, InferenceRequest

from picker.config import default_config, recommended_config

CHARS_PER_TOKEN = 4
SYSTEM_PROMPTS = 32  # distinct shared prefixes in the workload
OFFERED_RATE_PER_S = 1000  # decides how many scrape results land between two decisions


@dataclass(frozen=True)
class Cell:
    endpoints: int
    prompt_tokens: int
    profile: str
    p50_us: float
    p99_us: float
    mean_us: float
    cpu_p50_us: float
    cpu_p99_us: float


def random_metrics(rng: random.Random, now_s: float) -> EndpointMetrics:
    # Below the saturation thresholds, so flow control stays on its fast path and nothing is shed.
    return EndpointMetrics(
        waiting_queue_size=rng.randint(0, 4),
        running_requests=rng.randint(0, 32),
        kv_cache_usage_ratio=rng.uniform(0.0, 0.7),
        active_lora_adapters=frozenset({f"adapter-{rng.randint(0, 3)}"}),
        max_active_loras=2,
        updated_at_s=now_s,
    )


def make_prompts(rng: random.Random, prompt_tokens: int, count: int) -> list[str]:
    chars = prompt_tokens * CHARS_PER_TOKEN
    shared_chars = int(chars * 0.8)
    systems = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(shared_chars))
        for _ in range(SYSTEM_PROMPTS)
    ]
    prompts = []
    for _ in range(count):
        suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(chars - shared_chars))
        prompts.append(rng.choice(systems) + suffix)
    return prompts


async def measure(
    config: EndpointPickerConfig, endpoint_count: int, prompts: list[str], seed: int
) -> tuple[list[float], list[float]]:
    """Wall and thread-CPU microseconds per decision (CPU time is immune to other processes' load)."""
    clock = RealClock()
    rng = random.Random(seed)
    store = EndpointStore()
    store.replace_endpoints(
        Endpoint(f"vllm-{i}-rank-0", f"10.{i // 250}.{i % 250}.1", 8000) for i in range(endpoint_count)
    )
    names = [f"vllm-{i}-rank-0" for i in range(endpoint_count)]
    for name in names:
        store.update_metrics(name, random_metrics(rng, clock.now()))
    director = build_director(config, store, clock, random.Random(seed))
    scrapes_per_decision = max(
        1, round(endpoint_count * 20 / OFFERED_RATE_PER_S)
    )  # 20 scrapes/s per endpoint
    samples: list[float] = []
    cpu_samples: list[float] = []
    warmup = len(prompts) // 10
    for index, prompt in enumerate(prompts):
        now_s = clock.now()
        for _ in range(scrapes_per_decision):
            store.update_metrics(names[rng.randrange(endpoint_count)], random_metrics(rng, now_s))
        if index % 64 == 0:  # keep every endpoint fresh (no endpoint goes 200 ms without a scrape)
            for name in names:
                store.update_metrics(name, random_metrics(rng, now_s))
        request = InferenceRequest(
            request_id=f"r{index}",
            model="base",
            target_model=f"adapter-{index % 4}",
            prompt_text=prompt,
            body={"model": "base"},
            body_size_bytes=len(prompt),
        )
        started = time.perf_counter_ns()
        cpu_started = time.thread_time_ns()
        await director.route(request)
        director.release(request)
        cpu_us = (time.thread_time_ns() - cpu_started) / 1000.0
        elapsed_us = (time.perf_counter_ns() - started) / 1000.0
        if index >= warmup:
            samples.append(elapsed_us)
            cpu_samples.append(cpu_us)
    return samples, cpu_samples


def percentile(sorted_samples: list[float], fraction: float) -> float:
    index = min(len(sorted_samples) - 1, max(0, round(fraction * (len(sorted_samples) - 1))))
    return sorted_samples[index]


async def run(seed: int, decisions: int, sizes: list[int], token_counts: list[int]) -> list[Cell]:
    cells = []
    profiles = {"epp-default": default_config(), "project": recommended_config()}
    for endpoint_count in sizes:
        for prompt_tokens in token_counts:
            count = decisions if endpoint_count < 1024 else max(200, decisions // 4)
            prompts = make_prompts(random.Random(seed), prompt_tokens, count)
            for profile, config in profiles.items():
                wall, cpu = await measure(config, endpoint_count, prompts, seed)
                wall.sort()
                cpu.sort()
                cells.append(
                    Cell(
                        endpoint_count,
                        prompt_tokens,
                        profile,
                        percentile(wall, 0.5),
                        percentile(wall, 0.99),
                        statistics.fmean(wall),
                        percentile(cpu, 0.5),
                        percentile(cpu, 0.99),
                    )
                )
    return cells


def print_table(cells: list[Cell], seed: int, decisions: int) -> None:
    load_1m = os.getloadavg()[0]
    print(
        f"# Picker scheduling decision time (Director.route + release), seed={seed}, decisions/cell={decisions}, "
        f"{os.cpu_count()} CPUs, load average {load_1m:.1f}"
    )
    print(
        "| endpoints | prompt tokens | profile | p50 (ms) | p99 (ms) | mean (ms) | CPU p50 (ms) | CPU p99 (ms) | p50 vs epp-default | CPU p99 vs epp-default |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    baseline = {(c.endpoints, c.prompt_tokens): c for c in cells if c.profile == "epp-default"}
    for cell in cells:
        base = baseline[(cell.endpoints, cell.prompt_tokens)]
        print(
            f"| {cell.endpoints} | {cell.prompt_tokens} | {cell.profile} | {cell.p50_us / 1000:.3f} | "
            f"{cell.p99_us / 1000:.3f} | {cell.mean_us / 1000:.3f} | {cell.cpu_p50_us / 1000:.3f} | "
            f"{cell.cpu_p99_us / 1000:.3f} | {cell.p50_us / base.p50_us:.2f}x | {cell.cpu_p99_us / base.cpu_p99_us:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--decisions", type=int, default=2000, help="decisions per cell (1,024 endpoints: a quarter)"
    )
    parser.add_argument("--endpoints", type=int, nargs="+", default=[16, 128, 1024])
    parser.add_argument("--prompt-tokens", type=int, nargs="+", default=[1000, 8000])
    args = parser.parse_args()
    cells = asyncio.run(run(args.seed, args.decisions, args.endpoints, args.prompt_tokens))
    print_table(cells, args.seed, args.decisions)


if __name__ == "__main__":
    main()
