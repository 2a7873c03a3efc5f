"""A seeded discrete-event model of vLLM-like replicas driven by the real Director, for the picker benchmarks.

Each replica has a batch limit, a FIFO queue and an LRU prefix cache of 16-token blocks; prefill is
charged only for uncached tokens, decode takes a fixed time. The Director routes every request from
scraped metrics that are refreshed every 50 ms of virtual time, plus its own in-flight counts. Flow control
is switched off (the comparison is about scoring), so ``route`` never suspends and runs synchronously.
"""

from __future__ import annotations

import heapq
import itertools
import random
import statistics
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from picker.config.model import EndpointPickerConfig, FlowControlConfig
from picker.datastore.store import EndpointStore
from picker.director import Director
from picker.factory import build_director
from picker.framework.types import Endpoint, EndpointMetrics, InferenceRequest
from picker.plugins.prefix_hashing import prefix_block_hashes
from picker.request_director import RoutedRequest

MODEL = "llama-3.1-8b"
CHARS_PER_TOKEN = 4
BLOCK_TOKENS = 16
SCRAPE_INTERVAL_S = 0.05


@dataclass
class SimParameters:
    replicas: int = 8
    max_batch: int = 8  # concurrent sequences per replica
    cache_blocks: int = 1200  # prefix-cache capacity per replica (about six system prompts)
    prefill_s_per_token: float = 0.0001
    decode_s: float = 1.0  # per request, independent of batch size (a simplification)
    system_prompt_tokens: int = 3000
    question_tokens: int = 200
    system_prompts: int = 16
    zipf_exponent: float = 1.1


@dataclass
class SimRequest:
    request: InferenceRequest
    group: int
    hashes: list[int]
    arrived_s: float
    ttft_s: float = 0.0
    cached_tokens: int = 0
    routed: RoutedRequest | None = None  # what the director holds for it until it finishes
    tokens: list[int] = field(default_factory=list)  # its prompt's token ids, where the model needs them


@dataclass
class Replica:
    endpoint: Endpoint
    cache: OrderedDict[int, None] = field(default_factory=OrderedDict)
    running: int = 0
    waiting: deque[SimRequest] = field(default_factory=deque)
    next_event_seq: int = 0  # the sequence number of its next KV-event batch, where it publishes any


def finish(replica: Replica, sim: SimRequest, start: Callable[[Replica, SimRequest], None]) -> None:
    """``sim`` finished on ``replica``: its slot frees, the director releases it, the next queued one starts."""
    replica.running -= 1
    assert sim.routed is not None
    sim.routed.release()
    if replica.waiting:
        start(replica, replica.waiting.popleft())


def scrape_into(
    store: EndpointStore,
    replicas: dict[str, Replica],
    max_batch: int,
    now_s: float,
    kv_usage_full_batch: float,
) -> None:
    """What a scrape of every replica reports now: queue, running, and KV usage growing with the batch."""
    for name, replica in replicas.items():
        store.update_metrics(
            name,
            EndpointMetrics(
                waiting_queue_size=len(replica.waiting),
                running_requests=replica.running,
                kv_cache_usage_ratio=min(1.0, kv_usage_full_batch * replica.running / max_batch),
                updated_at_s=now_s,
            ),
        )


class SimClock:
    """Virtual time set by the event loop (flow control is off, so nothing ever sleeps)."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def now(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        raise RuntimeError("the simulation does not sleep")


def run_sync(coroutine: Coroutine[Any, Any, RoutedRequest]) -> RoutedRequest:
    """Drive a coroutine that never suspends (Director.route without flow control)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("route suspended: flow control must be off in this simulation")


def without_flow_control(config: EndpointPickerConfig) -> EndpointPickerConfig:
    return config.model_copy(update={"flow_control": FlowControlConfig(enabled=False)})


def simulate(
    config: EndpointPickerConfig, params: SimParameters, seed: int, requests: int, rate: float
) -> dict[str, float]:
    rng = random.Random(seed)
    clock = SimClock()
    store = EndpointStore()
    replicas = {
        f"vllm-{i}-rank-0": Replica(Endpoint(f"vllm-{i}-rank-0", f"10.0.{i}.1", 8000))
        for i in range(params.replicas)
    }
    store.replace_endpoints(replica.endpoint for replica in replicas.values())
    director: Director = build_director(without_flow_control(config), store, clock, random.Random(seed))

    text_rng = random.Random(seed + 1)
    system_texts = [
        "".join(
            text_rng.choice("abcdefghij klmnop") for _ in range(params.system_prompt_tokens * CHARS_PER_TOKEN)
        )
        for _ in range(params.system_prompts)
    ]
    zipf_weights = [1.0 / (rank + 1) ** params.zipf_exponent for rank in range(params.system_prompts)]
    block_chars = BLOCK_TOKENS * CHARS_PER_TOKEN
    events: list[tuple[float, int, str, Any]] = []
    sequence = itertools.count()

    def push(at_s: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(events, (at_s, next(sequence), kind, payload))

    def scrape() -> None:
        scrape_into(store, replicas, params.max_batch, clock.now(), kv_usage_full_batch=0.9)

    def start(replica: Replica, sim: SimRequest) -> None:
        cached_blocks = 0
        for block_hash in sim.hashes:
            if block_hash not in replica.cache:
                break
            cached_blocks += 1
        for block_hash in sim.hashes:  # the request's blocks become the most recently used
            replica.cache[block_hash] = None
            replica.cache.move_to_end(block_hash)
        while len(replica.cache) > params.cache_blocks:
            replica.cache.popitem(last=False)
        prompt_tokens = params.system_prompt_tokens + params.question_tokens
        sim.cached_tokens = min(prompt_tokens, cached_blocks * BLOCK_TOKENS)
        prefill_s = (prompt_tokens - sim.cached_tokens) * params.prefill_s_per_token
        sim.ttft_s = clock.now() - sim.arrived_s + prefill_s
        replica.running += 1
        push(clock.now() + prefill_s + params.decode_s, "finish", (replica, sim))

    finished: list[SimRequest] = []
    deepest_queue = 0
    arrival_s = 0.0
    for index in range(requests):
        arrival_s += rng.expovariate(rate)
        push(arrival_s, "arrival", index)
    push(0.0, "scrape")
    remaining = requests
    while events and remaining:
        clock.now_s, _, kind, payload = heapq.heappop(events)
        if kind == "scrape":
            scrape()
            push(clock.now() + SCRAPE_INTERVAL_S, "scrape")
        elif kind == "arrival":
            group = rng.choices(range(params.system_prompts), weights=zipf_weights)[0]
            question = "".join(
                rng.choice("qrstuvwxyz ") for _ in range(params.question_tokens * CHARS_PER_TOKEN)
            )
            prompt = system_texts[group] + question
            request = InferenceRequest(
                request_id=f"r{payload}",
                model=MODEL,
                target_model=MODEL,
                prompt_text=prompt,
                body={"model": MODEL},
            )
            sim = SimRequest(
                request, group, prefix_block_hashes(MODEL, "", prompt, block_chars, 10_000), clock.now()
            )
            routed = run_sync(director.route(request))
            sim.routed = routed
            replica = replicas[routed.decision.endpoints[0].name]
            if replica.running < params.max_batch:
                start(replica, sim)
            else:
                replica.waiting.append(sim)
                deepest_queue = max(deepest_queue, len(replica.waiting))
        else:
            replica, sim = payload
            finish(replica, sim, start)
            finished.append(sim)
            remaining -= 1

    ttfts = sorted(sim.ttft_s for sim in finished)
    prompt_tokens = params.system_prompt_tokens + params.question_tokens
    hot_first_block = next(sim.hashes[0] for sim in finished if sim.group == 0)
    hot = [sim for sim in finished if sim.group == 0]
    return {
        "ttft_p50_s": ttfts[len(ttfts) // 2],
        "ttft_p90_s": ttfts[int(len(ttfts) * 0.9)],
        "ttft_p99_s": ttfts[int(len(ttfts) * 0.99)],
        "ttft_mean_s": statistics.fmean(ttfts),
        "hit_ratio": statistics.fmean(sim.cached_tokens / prompt_tokens for sim in finished),
        "hot_hit_ratio": statistics.fmean(sim.cached_tokens / prompt_tokens for sim in hot),
        "hot_holders": sum(1 for replica in replicas.values() if hot_first_block in replica.cache),
        "makespan_s": clock.now(),
        "deepest_queue": deepest_queue,
    }


def print_comparison(results: dict[str, dict[str, float]]) -> None:
    """One markdown row per profile; TTFT mean as a ratio to the first profile (the baseline)."""
    baseline = next(iter(results.values()))
    print(
        "| profile | TTFT p50 (s) | TTFT p90 (s) | TTFT p99 (s) | TTFT mean vs epp-default | prefix hit "
        "| hot-prefix hit | replicas holding hot prefix |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        print(
            f"| {name} | {result['ttft_p50_s']:.3f} | {result['ttft_p90_s']:.3f} | {result['ttft_p99_s']:.3f} | "
            f"{result['ttft_mean_s'] / baseline['ttft_mean_s']:.2f}x | {result['hit_ratio']:.1%} | "
            f"{result['hot_hit_ratio']:.1%} | {result['hot_holders']} |"
        )
