"""CPU per shared placement and in-flight change, both ends together, in one process: what ``--workers``
adds per request.

Two real ``precise-prefix-cache-scorer`` instances (the shipped ``precise`` profile's parameters) joined by
two real datagram channels (abstract Unix sockets, as workers use), each with its decider's in-flight
tracker: the first routes a request (its ``pre_request``: its own speculative entry, history, footprint, then
the publish; the director's in-flight count up, and the count of the request routed ``--in-flight`` before it
down, as it finishes), the channel sends the placement and the changed counts at the end of the event-loop
turn, the second receives, decodes and applies them. Reported: process CPU time per request for that whole
path, and for the same routing without a channel (what a request paid before). Prompts are distinct, ``--blocks`` blocks each (worker_scaling's ~1 KB prompts are
about 12). Both run the same event-loop turns. Linux only. Not a test: it prints a table.

    .venv/bin/python -m bench.micro.picker.placement_sharing_cost
    .venv/bin/python -m bench.micro.picker.placement_sharing_cost --blocks 220 --placements 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import time

import yaml
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import ProfileResult, SchedulingResult
from picker.framework.kv_events import EventBatch
from picker.framework.types import Endpoint, EndpointState, InferenceRequest
from picker.placements.datagram_channel import DatagramPlacementChannel, worker_addresses
from picker.plugins.precise_prefix_cache_scorer import (
    PrecisePrefixCacheScorer,
    create_precise_prefix_cache_scorer,
)
from picker.profiles import profile_text

from bench.micro.command_line import command_line

ENDPOINTS = [EndpointState(Endpoint(f"vllm-{i}-rank-0", f"10.0.{i}.1", 8000), None) for i in range(4)]
WORDS = [f"w{i}" for i in range(5000)]


class Counts:
    """Placements received (the channel's metrics sink)."""

    def __init__(self) -> None:
        self.received = 0

    def record_shared_placements(self, direction: str, count: int) -> None:
        if direction == "received":
            self.received += count

    def record_shared_placement_error(self, cause: str, count: int) -> None:
        raise RuntimeError(f"a placement was not shared: {cause}")

    def set_sibling_deciders(self, count: int) -> None:
        pass


def scorer(in_flight: InFlightTracker, placements: DatagramPlacementChannel | None) -> PrecisePrefixCacheScorer:
    parameters = yaml.safe_load(profile_text("precise"))["plugins"][0]["parameters"]
    context = PluginContext(FakeClock(), random.Random(1), in_flight, load_external=False)
    if placements is not None:
        context = PluginContext(
            context.clock, context.rng, context.in_flight, load_external=False, placements=placements
        )
    plugin = create_precise_prefix_cache_scorer("precise-prefix-cache-scorer", parameters, context)
    for state in ENDPOINTS:  # every endpoint publishes (an empty cache)
        plugin.indexer.apply(state.endpoint.name, 0, EventBatch(0.0, ()))
    return plugin


def requests(count: int, blocks: int, seed: int) -> list[InferenceRequest]:
    rng = random.Random(seed)
    words = blocks * 16  # the approximate tokenizer: about one token per word
    prompts = [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(count)]
    return [
        InferenceRequest(request_id=f"r{i}", model="m", target_model="m", prompt_text=prompt,
                         body={"model": "m", "prompt": prompt})
        for i, prompt in enumerate(prompts)
    ]  # fmt: skip


def route_all(
    plugin: PrecisePrefixCacheScorer, in_flight: InFlightTracker, batch: list[InferenceRequest], first: int, held: int
) -> None:
    """Route ``batch`` (requests ``first``, ``first + 1``, ...), request ``i`` to endpoint ``i mod 4``, and
    release request ``i - held``."""
    for index, request in enumerate(batch, start=first):
        plugin.score(request, ENDPOINTS)
        result = SchedulingResult({"default": ProfileResult((ENDPOINTS[index % 4],))}, "default")
        in_flight.increment(ENDPOINTS[index % 4].endpoint.name)
        plugin.pre_request(request, result)
        if index >= held:
            in_flight.decrement(ENDPOINTS[(index - held) % 4].endpoint.name)


async def measure(args: argparse.Namespace) -> dict[str, float]:
    batch = requests(args.placements, args.blocks, args.seed)
    held = args.in_flight
    alone_in_flight = InFlightTracker()
    alone = scorer(alone_in_flight, None)
    assert alone.match(batch[0])[1] > 0, "a prompt of no full block: nothing to place"
    cpu = time.process_time()
    for start in range(0, len(batch), args.per_turn):
        route_all(alone, alone_in_flight, batch[start : start + args.per_turn], start, held)
        await asyncio.sleep(0)  # the same event-loop turns as below
    alone_s = time.process_time() - cpu

    token = secrets.token_hex(4)
    counts = Counts()
    trackers = [InFlightTracker(), InFlightTracker()]
    channels = [DatagramPlacementChannel(worker_addresses(token, i, 2), counts, trackers[i]) for i in (0, 1)]
    sender = scorer(trackers[0], channels[0])
    receiver = scorer(trackers[1], channels[1])  # subscribed to channels[1]: applies what arrives
    tasks = [asyncio.create_task(channel.run()) for channel in channels]
    await asyncio.sleep(0)
    cpu = time.process_time()
    for start in range(0, len(batch), args.per_turn):
        route_all(sender, trackers[0], batch[start : start + args.per_turn], start, held)
        await asyncio.sleep(0)  # the turn ends: the batch is sent
    while counts.received < len(batch) or trackers[1].counts() != trackers[0].own_counts():
        await asyncio.sleep(0)
    shared_s = time.process_time() - cpu
    # The sibling applied them: the last request's prefix is where the first scorer sent it, by its entry.
    last = len(batch) - 1
    assert receiver.score(batch[last], ENDPOINTS)[last % len(ENDPOINTS)] == 1.0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"alone_us": alone_s / len(batch) * 1e6, "shared_us": shared_s / len(batch) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--placements", type=int, default=5000)
    parser.add_argument("--blocks", type=int, default=12, help="blocks per prompt (16 tokens each)")
    parser.add_argument("--per-turn", type=int, default=1, help="placements per event-loop turn (batched)")
    parser.add_argument(
        "--in-flight", type=int, default=15, help="requests in flight (each route releases one, elsewhere)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    runs = [asyncio.run(measure(args)) for _ in range(args.repeats)]
    alone = statistics.median(run["alone_us"] for run in runs)
    shared = statistics.median(run["shared_us"] for run in runs)
    print(f"`{command_line()}`  \nload average {os.getloadavg()[0]:.1f}; medians of {args.repeats}\n")
    print("| blocks per prompt | placements per turn | route alone, us CPU | route + share + sibling applies, us CPU | added per request, us |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {args.blocks} | {args.per_turn} | {alone:.1f} | {shared:.1f} | {shared - alone:.1f} |")


if __name__ == "__main__":
    main()
