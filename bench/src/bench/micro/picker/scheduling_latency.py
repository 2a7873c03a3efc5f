"""Scheduling decision time of the picker's Director: p50/p99 per pool size, prompt length and profile.

Times ``Director.route`` + ``release`` in-process (snapshot, admission, flow-control fast path, filters,
scorers, picker, prefix-index update) on a seeded workload of prompts that share system prompts, while
scrapes keep arriving (a 50 ms scrape interval at the offered rate). Prints a table and, per cell, the
ratio of the project profile to the EPP default profile. The precise profile runs with its index filled
as KV events would fill it (every system prompt cached on two endpoints, every endpoint publishing), the
simulator's approximate tokenizer, and a second table splits its per-request work into tokenization and
index lookup (block keys + longest prefix); the rest of the decision is the first table minus these.
``--tokenizer DIR`` (a folder with ``tokenizer.json``, as vLLM's ``--tokenizer``) or ``--build-tokenizer`` (a
byte-level BPE trained here on the workload's own text with the ``tokenizers`` library, as a stand-in for a
model's: no download) adds a ``precise-hf`` profile that tokenizes with Hugging Face's Rust tokenizer, the
way a deployment with ``tokenizer.modelName`` does. Not a test: run it by hand.

    .venv/bin/python -m bench.micro.picker.scheduling_latency [--seed 1] [--decisions 2000] [--build-tokenizer]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from picker.config import default_config, load_config_text, precise_config, recommended_config
from picker.config.model import EndpointPickerConfig
from picker.datastore.store import EndpointStore
from picker.factory import build_director
from picker.framework.clock import RealClock
from picker.framework.kv_events import BlockStored, EventBatch
from picker.framework.types import Endpoint, EndpointMetrics, InferenceRequest
from picker.heap import freeze_startup_heap
from picker.plugins.precise_prefix_cache_scorer import PrecisePrefixCacheScorer
from picker.profiles import profile_text

from bench.stats.percentiles import percentile_or_nan

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


def make_prompts(rng: random.Random, prompt_tokens: int, count: int) -> tuple[list[str], list[str]]:
    """(prompts, system prompts): each prompt is a system prompt (80%) and a unique suffix."""
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
    return prompts, systems


def fill_precise_index(director_plugins: dict[str, object], names: list[str], systems: list[str]) -> None:
    """What the servers' BlockStored events would say: each system prompt cached on two endpoints."""
    for plugin in director_plugins.values():
        if not isinstance(plugin, PrecisePrefixCacheScorer):
            continue
        block = plugin.hasher.block_size
        for name in names:
            plugin.indexer.apply(name, 0, EventBatch(0.0, ()))  # publishing, nothing cached yet
        for index, system in enumerate(systems):
            # The scorer's own tokenizer, so the blocks the events announce are the blocks requests hash to.
            tokens = plugin.tokenizer.token_ids(InferenceRequest(f"s{index}", "base", "base", system, {}))
            full = len(tokens) // block * block
            hashes = tuple(range(index * 10_000, index * 10_000 + full // block))
            event = BlockStored(hashes, None, tuple(tokens[:full]), block)
            for holder in (names[index % len(names)], names[(index * 7 + 1) % len(names)]):
                plugin.indexer.apply(holder, index + 1, EventBatch(0.0, (event,)))


async def measure(
    config: EndpointPickerConfig, endpoint_count: int, prompts: list[str], systems: list[str], seed: int
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
    freeze_startup_heap()  # as the picker's start-up does (picker.runtime); the index fills after it
    fill_precise_index(dict(director.scheduling.plugins), names, systems)
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
            body={"model": "base", "prompt": prompt},
            body_size_bytes=len(prompt),
        )
        started = time.perf_counter_ns()
        cpu_started = time.thread_time_ns()
        (await director.route(request)).release()
        cpu_us = (time.thread_time_ns() - cpu_started) / 1000.0
        elapsed_us = (time.perf_counter_ns() - started) / 1000.0
        if index >= warmup:
            samples.append(elapsed_us)
            cpu_samples.append(cpu_us)
    return samples, cpu_samples


def precise_with_tokenizer(directory: Path) -> EndpointPickerConfig:
    """The shipped precise profile with its scorer tokenizing by ``directory``'s tokenizer.json."""
    document = yaml.safe_load(profile_text("precise"))
    for plugin in document["plugins"]:
        if plugin["type"] == "precise-prefix-cache-scorer":
            plugin.setdefault("parameters", {})["tokenizer"] = {"path": str(directory)}
    return load_config_text(yaml.safe_dump(document), source=f"precise profile with the tokenizer in {directory}")


def build_workload_tokenizer(directory: Path, seed: int, prompt_tokens: int) -> Path:
    """A byte-level BPE trained on text like the workload's (seeded), written to ``directory``."""
    from bench.inference_perf.build_tokenizer import build

    prompts, systems = make_prompts(random.Random(seed + 1), prompt_tokens, 50)
    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(systems + prompts), encoding="utf-8")
    build(corpus, directory / "tokenizer", vocab_size=8000)
    return directory / "tokenizer"


async def run(
    seed: int,
    decisions: int,
    sizes: list[int],
    token_counts: list[int],
    tokenizer_dir: Path | None = None,
) -> list[Cell]:
    cells = []
    profiles = {"epp-default": default_config(), "project": recommended_config(), "precise": precise_config()}
    if tokenizer_dir is not None:
        profiles["precise-hf"] = precise_with_tokenizer(tokenizer_dir)
    for endpoint_count in sizes:
        for prompt_tokens in token_counts:
            count = decisions if endpoint_count < 1024 else max(200, decisions // 4)
            prompts, systems = make_prompts(random.Random(seed), prompt_tokens, count)
            for profile, config in profiles.items():
                wall, cpu = await measure(config, endpoint_count, prompts, systems, seed)
                wall.sort()
                cpu.sort()
                cells.append(
                    Cell(
                        endpoint_count,
                        prompt_tokens,
                        profile,
                        percentile_or_nan(wall, 50),
                        percentile_or_nan(wall, 99),
                        statistics.fmean(wall),
                        percentile_or_nan(cpu, 50),
                        percentile_or_nan(cpu, 99),
                    )
                )
    return cells


@dataclass(frozen=True)
class SplitCell:
    prompt_tokens: int
    tokenize_p50_us: float
    tokenize_p99_us: float
    lookup_p50_us: float
    lookup_p99_us: float


def measure_precise_split(
    prompt_tokens: int,
    decisions: int,
    seed: int,
    endpoint_count: int = 128,
    config: EndpointPickerConfig | None = None,
) -> SplitCell:
    """Thread-CPU time per request, on the decision workload: tokenizing the prompt (chunk cache warm from
    earlier requests, so a shared system prompt costs a lookup and the unique suffix is tokenized), then the
    index lookup: the precise scorer's match with those tokens cached (block keys per chunk, cached for
    chunks seen before; longest prefix in the KV-event index and the speculative entries)."""
    clock = RealClock()
    store = EndpointStore()
    names = [f"vllm-{i}-rank-0" for i in range(endpoint_count)]
    store.replace_endpoints(Endpoint(name, f"10.0.{i}.1", 8000) for i, name in enumerate(names))
    director = build_director(config or precise_config(), store, clock, random.Random(seed))
    prompts, systems = make_prompts(random.Random(seed), prompt_tokens, decisions)
    fill_precise_index(dict(director.scheduling.plugins), names, systems)
    plugin = next(p for p in director.scheduling.plugins.values() if isinstance(p, PrecisePrefixCacheScorer))
    tokenize: list[float] = []
    lookup: list[float] = []
    warmup = len(prompts) // 10
    for index, prompt in enumerate(prompts):
        request = InferenceRequest(f"r{index}", "base", "base", prompt, {"model": "base", "prompt": prompt})
        twin = InferenceRequest(f"t{index}", "base", "base", prompt, {"model": "base", "prompt": prompt})
        started = time.thread_time_ns()
        plugin.tokenizer.token_ids(twin)
        tokenized = time.thread_time_ns()
        plugin.match(request)
        looked_up = time.thread_time_ns()
        if index >= warmup:
            tokenize.append((tokenized - started) / 1000.0)
            lookup.append((looked_up - tokenized) / 1000.0)
    tokenize.sort()
    lookup.sort()
    return SplitCell(
        prompt_tokens,
        percentile_or_nan(tokenize, 50),
        percentile_or_nan(tokenize, 99),
        percentile_or_nan(lookup, 50),
        percentile_or_nan(lookup, 99),
    )


def print_split(cells: list[SplitCell]) -> None:
    print()
    print("# precise-prefix-cache-scorer per request, 128 endpoints (thread CPU time)")
    print(
        "| prompt tokens | tokenize p50 (ms) | tokenize p99 (ms) | index lookup p50 (ms) | index lookup p99 (ms) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for cell in cells:
        print(
            f"| {cell.prompt_tokens} | {cell.tokenize_p50_us / 1000:.3f} | {cell.tokenize_p99_us / 1000:.3f} | "
            f"{cell.lookup_p50_us / 1000:.3f} | {cell.lookup_p99_us / 1000:.3f} |"
        )


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
    tokenizer = parser.add_mutually_exclusive_group()
    tokenizer.add_argument("--tokenizer", type=Path, help="a folder with tokenizer.json: adds precise-hf")
    tokenizer.add_argument(
        "--build-tokenizer", action="store_true", help="train a BPE on the workload's text: adds precise-hf"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scheduling-latency-") as scratch:
        tokenizer_dir = args.tokenizer
        if args.build_tokenizer:
            tokenizer_dir = build_workload_tokenizer(Path(scratch), args.seed, max(args.prompt_tokens))
        cells = asyncio.run(run(args.seed, args.decisions, args.endpoints, args.prompt_tokens, tokenizer_dir))
        print_table(cells, args.seed, args.decisions)
        print_split([measure_precise_split(tokens, args.decisions, args.seed) for tokens in args.prompt_tokens])
        if tokenizer_dir is not None:
            print("\nprecise-hf (Hugging Face tokenizer from", "a BPE trained here)" if args.build_tokenizer else f"{tokenizer_dir})")
            hf = precise_with_tokenizer(tokenizer_dir)
            print_split([measure_precise_split(t, args.decisions, args.seed, config=hf) for t in args.prompt_tokens])


if __name__ == "__main__":
    main()
