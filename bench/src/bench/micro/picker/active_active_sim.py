"""One picker vs two pickers that route alternate requests: the hit rate they lose, without the box's noise.

A seeded virtual-time model of the scale-out targets (``picker-precise-2-workers``, ``-2-replicas``): LRU
replicas of 16-token blocks serve the bench's shared-prefix chat requests, and 1 or 2 real Directors
("deciders", each with its own plugins, in-flight counts and scrape of the replicas' metrics at its own
phase) route them, request ``i`` by decider ``i mod D`` (Envoy round-robins streams over the pickers).
Every replica publishes vLLM-style KV events (``BlockStored`` when a request starts, ``BlockRemoved`` when
the LRU evicts); each decider's KV-event index receives every batch ``--event-delay-ms`` after it happens,
as each picker process subscribes to every server. So the deciders share one event-fed view of the caches
and differ only in what each keeps to itself: speculative entries, routing history, placement footprint,
in-flight counts. A profile name ending in ``+shared`` models sharing between deciders as the picker does it
(picker.placements, ``--workers`` and active-active replicas): each decider's placements reach its siblings'
plugins, and each change of its in-flight count (a request routed or finished) its siblings' in-flight
view, ``--share-delay-ms`` later. ``+shared-placements`` shares placements only (the picker before in-flight
counts were shared).

    .venv/bin/python -m bench.micro.picker.active_active_sim                 # both scenarios, seeds 1-5
    .venv/bin/python -m bench.micro.picker.active_active_sim --seeds 1 2 --event-delay-ms 100
    .venv/bin/python -m bench.micro.picker.active_active_sim --profiles precise-footprint+shared-placements \
        precise-footprint+shared
    .venv/bin/python -m bench.micro.picker.active_active_sim --profiles precise-footprint+shared --same-rng

Prints per scenario and seed each profile's hit rate with 1 and 2 deciders and the difference in points,
then the mean over seeds. Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import itertools
import random
import statistics
from dataclasses import dataclass
from typing import Any

import yaml
from picker.config import load_config_text
from picker.config.model import EndpointPickerConfig
from picker.datastore.store import EndpointStore
from picker.director import Director
from picker.factory import build_director
from picker.framework.in_flight import InFlightTracker
from picker.framework.kv_events import BlockRemoved, BlockStored, EventBatch
from picker.framework.placement_sharing import PlacementReceiver, SharedPlacement
from picker.framework.types import Endpoint, InferenceRequest
from picker.kvevents.block_keys import BlockKeyHasher
from picker.placements.sibling_in_flight import SiblingInFlight
from picker.placements.wire import InFlightReport
from picker.plugins.kv_event_prefix_index import PRECISE_PREFIX_CACHE_SCORER_TYPE, KVEventPrefixIndex
from picker.profiles import profile_text
from picker.tokenization.request_tokenizer import RequestTokenizer

from bench.micro.picker.replica_sim import (
    SCRAPE_INTERVAL_S,
    Replica,
    SimClock,
    SimRequest,
    finish,
    run_sync,
    scrape_into,
    without_flow_control,
)
from bench.stats.percentiles import percentile
from bench.workloads.request import RequestSpec
from bench.workloads.shared_prefix_chat import SharedPrefixChat

MODEL = "llama-3.1-8b"
SHARED_SUFFIX = "+shared"
PLACEMENTS_ONLY_SUFFIX = "+shared-placements"
DEFAULT_PROFILES = [
    "precise-footprint",
    "precise-footprint+shared-placements",
    "precise-footprint+shared",
    "precise-rendezvous",
    "recommended",
]
BLOCK_TOKENS = 16


@dataclass(frozen=True)
class Scenario:
    """The bench scenario's workload and fleet (docs/benchmarks.md), with more requests for steadier rates."""

    name: str
    groups: int
    turns: int
    requests: int
    rate_rps: float = 8.0
    replicas: int = 4
    cache_blocks: int = 600  # the bench fleet's num_gpu_blocks
    max_batch: int = 64
    prefill_s_per_token: float = 1 / 16000
    decode_s: float = 0.35  # 32 output tokens


SCENARIOS = {
    "shared-prefix-chat": Scenario("shared-prefix-chat", groups=8, turns=3, requests=400),
    "capacity-bound-chat": Scenario("capacity-bound-chat", groups=18, turns=4, requests=400),
}


def kv_event_indexes(director: Director) -> list[KVEventPrefixIndex]:
    """The KV-event indexes of a Director's plugins (none for an approximate profile)."""
    indexes = []
    for plugin in director.scheduling.plugins.values():
        events = getattr(plugin, "events", None)
        if isinstance(events, KVEventPrefixIndex):
            indexes.append(events)
    return indexes


class SimPlacementSharing:
    """One decider's PlacementSharing in virtual time: what it publishes reaches every sibling's subscriber
    ``delay_s`` later (``deliver`` schedules it on the simulation's event queue); with ``in_flight`` so does
    each change of the decider's own in-flight count (``report``), applied by the real SiblingInFlight."""

    def __init__(self, deliver: Any, report: Any, in_flight: InFlightTracker | None) -> None:
        self._deliver = deliver
        self.receivers: dict[str, PlacementReceiver] = {}
        self.sender = f"decider-{id(self)}".encode()
        self.sequence = 0
        self.in_flight = in_flight
        if in_flight is not None:
            self.siblings = SiblingInFlight(in_flight, float("inf"))
            in_flight.watch(lambda name: report(self, InFlightReport(False, {name: in_flight.own_count(name)})))

    def publish(self, placement: SharedPlacement) -> None:
        self._deliver(self, placement)

    def subscribe(self, plugin: str, receiver: PlacementReceiver) -> None:
        self.receivers[plugin] = receiver


def simulate(
    config: EndpointPickerConfig,
    scenario: Scenario,
    deciders: int,
    seed: int,
    event_delay_s: float,
    share_delay_s: float | None = None,
    share_in_flight: bool = True,
    same_rng: bool = False,
) -> dict[str, float]:
    """``share_delay_s``: deciders share their placements (and with ``share_in_flight`` their in-flight
    counts) with that delay (None: they share nothing). ``same_rng``: every decider's RNG (max-score-picker's
    tie-breaks) is seeded alike, as one decider's, instead of one seed each."""
    clock = SimClock()
    replicas = {
        f"vllm-{i}-rank-0": Replica(Endpoint(f"vllm-{i}-rank-0", f"10.0.{i}.1", 8000))
        for i in range(scenario.replicas)
    }
    stores = [EndpointStore() for _ in range(deciders)]
    events: list[tuple[float, int, str, Any]] = []
    sequence = itertools.count()

    def push(at_s: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(events, (at_s, next(sequence), kind, payload))

    sharings: list[SimPlacementSharing] = []

    def deliver(sender: SimPlacementSharing, placement: SharedPlacement) -> None:
        assert share_delay_s is not None
        for sibling in sharings:
            if sibling is not sender:
                push(clock.now() + share_delay_s, "share", (sibling, placement))

    def report(sender: SimPlacementSharing, in_flight: InFlightReport) -> None:
        assert share_delay_s is not None
        sender.sequence += 1
        for sibling in sharings:
            if sibling is not sender:
                push(clock.now() + share_delay_s, "in-flight", (sibling, sender.sender, sender.sequence, in_flight))

    directors = []
    for index, store in enumerate(stores):
        store.replace_endpoints(replica.endpoint for replica in replicas.values())
        in_flight = InFlightTracker()
        sharing = (
            SimPlacementSharing(deliver, report, in_flight if share_in_flight else None)
            if share_delay_s is not None
            else None
        )
        if sharing is not None:
            sharings.append(sharing)
        directors.append(
            build_director(
                without_flow_control(config),
                store,
                clock,
                random.Random(seed * 100 + (0 if same_rng else index)),
                placements=sharing,
                in_flight=in_flight,
            )
        )
    indexes = [kv_event_indexes(director) for director in directors]
    tokenizer = RequestTokenizer.approximate()  # the simulator's default, as the replicas tokenize
    hasher = BlockKeyHasher(BLOCK_TOKENS)
    root = hasher.root(None, None)

    workload = SharedPrefixChat(
        requests=scenario.requests, groups=scenario.groups, turns=scenario.turns, context_words=1200,
        max_tokens=32, model=MODEL,
    )  # fmt: skip
    specs: list[RequestSpec] = workload.generate(seed)
    arrivals = random.Random(seed)

    def publish(replica: Replica, batch: EventBatch) -> None:
        seq = replica.next_event_seq
        replica.next_event_seq += 1
        for decider in range(deciders):
            push(clock.now() + event_delay_s, "kv", (decider, replica.endpoint.name, seq, batch))

    def start(replica: Replica, sim: SimRequest) -> None:
        cache = replica.cache
        cached = 0
        for key in sim.hashes:
            if key not in cache:
                break
            cached += 1
        for key in reversed(sim.hashes):  # as vLLM frees them: a sequence's last blocks are evicted first
            cache[key] = None
            cache.move_to_end(key)
        evicted = []
        while len(cache) > scenario.cache_blocks:
            evicted.append(cache.popitem(last=False)[0])
        stored: list[BlockStored | BlockRemoved] = []
        if cached < len(sim.hashes):
            stored.append(BlockStored(
                block_hashes=tuple(sim.hashes[cached:]),
                parent_block_hash=sim.hashes[cached - 1] if cached else None,
                token_ids=tuple(sim.tokens[cached * BLOCK_TOKENS : len(sim.hashes) * BLOCK_TOKENS]),
                block_size=BLOCK_TOKENS,
            ))  # fmt: skip
        if evicted:
            stored.append(BlockRemoved(tuple(evicted)))
        if stored:
            publish(replica, EventBatch(clock.now(), tuple(stored)))
        prompt_tokens = len(sim.tokens)
        sim.cached_tokens = min(prompt_tokens, cached * BLOCK_TOKENS)
        prefill_s = (prompt_tokens - sim.cached_tokens) * scenario.prefill_s_per_token
        sim.ttft_s = clock.now() - sim.arrived_s + prefill_s
        replica.running += 1
        push(clock.now() + prefill_s + scenario.decode_s, "finish", (replica, sim))

    for replica in replicas.values():  # every publisher announces itself (a replay from 0 of nothing)
        publish(replica, EventBatch(0.0, ()))
    arrival_s = 0.0
    for spec in specs:
        arrival_s += arrivals.expovariate(scenario.rate_rps)
        push(arrival_s, "arrival", spec)
    for index in range(deciders):
        push(SCRAPE_INTERVAL_S * index / deciders, "scrape", index)
    finished: list[SimRequest] = []
    served_by: dict[int, set[str]] = {}  # group -> the replicas its requests went to
    remaining = len(specs)
    while events and remaining:
        clock.now_s, _, kind, payload = heapq.heappop(events)
        if kind == "scrape":
            scrape_into(stores[payload], replicas, scenario.max_batch, clock.now(), kv_usage_full_batch=1.0)
            push(clock.now() + SCRAPE_INTERVAL_S, "scrape", payload)
        elif kind == "share":
            sibling, placement = payload
            sibling.receivers[placement.plugin](placement)
        elif kind == "in-flight":
            sibling, sender, report_sequence, in_flight_report = payload
            sibling.siblings.apply(sender, report_sequence, in_flight_report, clock.now())
        elif kind == "kv":
            decider, name, seq, batch = payload
            for index in indexes[decider]:
                index.indexer.apply(name, seq, batch)
        elif kind == "arrival":
            spec = payload
            body = spec.body()
            request = InferenceRequest(
                request_id=f"r{spec.index}", model=MODEL, target_model=MODEL,
                prompt_text=spec.prompt_text(), body=body, streaming=True,
            )  # fmt: skip
            tokens = tokenizer.token_ids(request)
            group = int(spec.prefix_group.removeprefix("group-"))
            sim = SimRequest(request, group, hasher.chain(root, tokens), clock.now(), tokens=tokens)
            routed = run_sync(directors[spec.index % deciders].route(request))
            sim.routed = routed
            replica = replicas[routed.decision.endpoints[0].name]
            served_by.setdefault(sim.group, set()).add(replica.endpoint.name)
            if replica.running < scenario.max_batch:
                start(replica, sim)
            else:
                replica.waiting.append(sim)
        else:
            replica, sim = payload
            finish(replica, sim, start)
            finished.append(sim)
            remaining -= 1
    ttfts = [sim.ttft_s for sim in finished]
    return {
        "hit_rate": sum(sim.cached_tokens for sim in finished) / sum(len(sim.tokens) for sim in finished),
        "ttft_p90_s": percentile(ttfts, 90),
        "replicas_per_group": statistics.fmean(len(names) for names in served_by.values()),
    }


def profile_config(name: str) -> EndpointPickerConfig:
    """A shipped profile, or ``precise-footprint`` / ``precise-rendezvous``: precise with that ``coldPlacement``
    (a ``+shared`` or ``+shared-placements`` suffix is read by :func:`main`, not here)."""
    base, _, cold_placement = name.partition("+")[0].partition("-")
    document = yaml.safe_load(profile_text(base))
    if cold_placement:
        for plugin in document["plugins"]:
            if plugin["type"] == PRECISE_PREFIX_CACHE_SCORER_TYPE:
                plugin["parameters"]["coldPlacement"] = cold_placement
    return load_config_text(yaml.safe_dump(document))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--event-delay-ms", type=float, default=50.0, help="server event -> every index")
    parser.add_argument("--max-batch", type=int, default=None, help="sequences per replica (default 64)")
    parser.add_argument(
        "--share-delay-ms", type=float, default=1.0, help="a placement -> the siblings' plugins (+shared)"
    )
    parser.add_argument(
        "--same-rng",
        action="store_true",
        help="seed every decider's RNG alike (tie-breaks as one decider draws them), not one seed each",
    )
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=DEFAULT_PROFILES,
        help="shipped profiles, precise-footprint / precise-rendezvous; +shared: deciders share placements and "
        "in-flight counts; +shared-placements: placements only",
    )
    args = parser.parse_args()
    delay_s = args.event_delay_ms / 1000
    print(
        f"# One vs two deciders (virtual time; events reach every index after {args.event_delay_ms:g} ms; "
        f"seeds {' '.join(map(str, args.seeds))}; tie-break RNGs "
        f"{'seeded alike' if args.same_rng else 'one seed per decider'})\n"
    )
    for name in args.scenarios:
        scenario = SCENARIOS[name]
        if args.max_batch is not None:
            scenario = dataclasses.replace(scenario, max_batch=args.max_batch)
        print(
            f"## {name}: {scenario.groups} groups x {scenario.turns} turns, {scenario.requests} requests at "
            f"{scenario.rate_rps:g}/s, {scenario.replicas} replicas x {scenario.cache_blocks} blocks, "
            f"{scenario.max_batch} sequences each\n"
        )
        print(
            "| profile | seed | hit, 1 decider | hit, 2 deciders | points | TTFT p90 1 / 2 (s) "
            "| replicas per group 1 / 2 |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for profile in args.profiles:
            config = profile_config(profile)
            shares = profile.endswith((SHARED_SUFFIX, PLACEMENTS_ONLY_SUFFIX))
            share_s = args.share_delay_ms / 1000 if shares else None
            share_in_flight = profile.endswith(SHARED_SUFFIX)
            losses = []
            for seed in args.seeds:
                one = simulate(config, scenario, 1, seed, delay_s)
                two = simulate(config, scenario, 2, seed, delay_s, share_s, share_in_flight, args.same_rng)
                losses.append(100 * (two["hit_rate"] - one["hit_rate"]))
                print(
                    f"| {profile} | {seed} | {one['hit_rate']:.1%} | {two['hit_rate']:.1%} | {losses[-1]:+.1f} "
                    f"| {one['ttft_p90_s']:.2f} / {two['ttft_p90_s']:.2f} "
                    f"| {one['replicas_per_group']:.2f} / {two['replicas_per_group']:.2f} |",
                    flush=True,
                )
            print(f"| {profile} | mean | | | **{statistics.fmean(losses):+.1f}** | | |", flush=True)
        print()


if __name__ == "__main__":
    main()
