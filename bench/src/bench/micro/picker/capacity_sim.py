"""A bench scenario in virtual time: the real Director routing to the simulator's own engines, which publish
KV events that reach the picker after a delay. For trying placement rules in seconds, not minutes.

Each replica is a ``sim.engine.Engine`` (vLLM's scheduler, KV block pool and prefix cache as the simulator
serves them) built from the bench fleet's settings; requests are the scenario's, tokenized with the picker's
approximate tokenizer (the simulator's default), arriving as a seeded Poisson process at the scenario's rate
for its duration. Every ``BlocksStored`` / ``BlocksRemoved`` an engine records is encoded as the simulator
publishes it and decoded by the picker's KV-event indexer ``--event-delay-ms`` later, one batch per engine
step; metrics are scraped every
``--scrape-interval-ms``. Flow control is off (the question is placement). Reported as the bench reports
it: fleet prefix-cache hit rate (vLLM's counters), the analytical bound (``bench.bound``) and the share of
it reached, mean replicas per prefix group, TTFT p50 / p90. Beside them, as a share of the bound, one LRU
cache of the fleet's size on the same prompts (``pooled_lru_hit_rate``): the bound knows the future (Belady's
MIN); a router does not, and on a workload whose groups recur at random no online policy keeps more of them
than fit.

    .venv/bin/python -m bench.micro.picker.capacity_sim [--scenario capacity-bound-chat] [--seeds 1,2,3]
        [--profile precise --profile recommended --profile FILE.yaml] [--set 'spill.queueDepthThreshold=3']

``--set`` overrides a plugin parameter (``[plugin-type:]dotted.camelCase.key=YAML``, the type defaulting to
``precise-prefix-cache-scorer``) in every profile that has that plugin.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import statistics
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from picker.config import load_config_file
from picker.config.defaults import profile_config
from picker.config.model import EndpointPickerConfig
from picker.datastore.store import EndpointStore
from picker.factory import build_director
from picker.framework.kv_events import EventBatch
from picker.framework.types import Endpoint, EndpointMetrics, InferenceRequest
from picker.plugins.precise_prefix_cache_scorer import PrecisePrefixCacheScorer
from picker.request_director import RoutedRequest
from picker.tokenization.request_tokenizer import RequestTokenizer
from sim.config import SimConfig
from sim.engine.engine import Engine
from sim.engine.engine_config import EngineConfig
from sim.engine.kv_cache_events import KVCacheEvent
from sim.engine.sequence import GenerationRequest, SequenceFinished, SequenceScheduled, TokenGenerated
from sim.kv_events.encoding import KVEventEncoder

from bench.bound import block_keys, prefix_cache_bound
from bench.cli import load_config
from bench.config import FleetSpec, Scenario
from bench.driver.load import OpenLoop
from bench.fleet import replica_config
from bench.micro.picker.replica_sim import SimClock, run_sync, without_flow_control
from bench.stats.percentiles import percentile
from bench.targets.picker_gateway import kv_events_endpoint_name


@dataclass
class EventRecorder:
    """The engine's KV-event sink: what it recorded since the last drain."""

    events: list[KVCacheEvent] = field(default_factory=list)

    def record(self, event: KVCacheEvent) -> None:
        self.events.append(event)

    def drain(self) -> list[KVCacheEvent]:
        drained, self.events = self.events, []
        return drained


def pooled_lru_hit_rate(prompts: list[list[int]], block_size: int, capacity_blocks: int) -> float:
    """Hit rate of one LRU prefix cache of ``capacity_blocks`` (the fleet's, pooled), no timing: what an
    online router reaches if it made the replicas' caches act as one. A request's blocks are freed last
    block first, as vLLM frees them, so a prefix loses its tail before its head."""
    cache: OrderedDict[Hashable, None] = OrderedDict()
    hits = 0
    for prompt in prompts:
        keys = block_keys(prompt, block_size)
        for key in keys:
            if key not in cache:
                break
            hits += block_size
        for key in reversed(keys):
            cache[key] = None
            cache.move_to_end(key)
        while len(cache) > capacity_blocks:
            cache.popitem(last=False)
    total = sum(len(prompt) for prompt in prompts)
    return hits / total if total else 0.0


@dataclass
class CapacityResult:
    sent: int
    hit_rate: float
    bound_hit_rate: float
    pooled_lru_hit_rate: float
    replicas_per_group: float
    ttft_p50_s: float
    ttft_p90_s: float
    preemptions: int

    @property
    def of_bound(self) -> float:
        return self.hit_rate / self.bound_hit_rate if self.bound_hit_rate else 0.0


@dataclass
class _Replica:
    name: str
    engine: Engine
    events: EventRecorder
    seq: int = 0  # KV-event batch sequence number
    wakeup_version: int = 0


def engine_config(fleet: FleetSpec) -> EngineConfig:
    """A fleet replica's engine, derived as a real replica derives it: the fleet's simulator config, then
    the simulator's own ``SimConfig.engine_config``."""
    config = SimConfig.build(**replica_config(fleet, index=0, port=0, seed=0))
    return config.engine_config(config.load_profile())


def simulate(
    config: EndpointPickerConfig,
    scenario: Scenario,
    fleet: FleetSpec,
    seed: int,
    event_delay_s: float = 0.005,
    scrape_interval_s: float = 0.05,
) -> CapacityResult:
    if not isinstance(scenario.load, OpenLoop):
        raise ValueError(f"scenario {scenario.name!r} is not an open loop; the simulation replays open loads")
    rng = random.Random(seed)
    clock = SimClock()
    store = EndpointStore()
    settings = engine_config(fleet)
    replicas = {
        name: _Replica(name, engine, recorder)
        for i in range(fleet.replicas)
        for name in [kv_events_endpoint_name(f"replica-{i}", i)]  # the bench's names: rendezvous hashes them
        for recorder in [EventRecorder()]
        for engine in [Engine(settings, random.Random(seed * 1000 + i), recorder)]
    }
    store.replace_endpoints(Endpoint(name, f"10.0.0.{i + 1}", 8000) for i, name in enumerate(replicas))
    director = build_director(without_flow_control(config), store, clock, random.Random(seed))
    precise = [p for p in director.scheduling.plugins.values() if isinstance(p, PrecisePrefixCacheScorer)]
    for plugin in precise:  # every replica publishes from the start
        for name in replicas:
            plugin.indexer.apply(name, 0, EventBatch(0.0, ()))

    tokenizer = RequestTokenizer.approximate()
    specs = scenario.workload.generate(seed)
    arrivals: list[float] = []
    at_s = rng.expovariate(scenario.load.rate_rps)
    while at_s < scenario.load.duration_s and len(arrivals) < len(specs):
        arrivals.append(at_s)
        at_s += rng.expovariate(scenario.load.rate_rps)

    heap: list[tuple[float, int, str, Any]] = []
    order = itertools.count()

    def push(when_s: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(heap, (when_s, next(order), kind, payload))

    encoder = KVEventEncoder()

    def poke(replica: _Replica) -> None:
        """Publish what the engine recorded (the simulator's wire encoding) and schedule its next wake-up."""
        recorded = replica.events.drain()
        if recorded:
            replica.seq += 1
            payload = encoder.encode_batch(clock.now(), recorded)
            push(clock.now() + event_delay_s, "kv", (replica.name, replica.seq, payload))
        wake_s = replica.engine.next_wakeup_s()
        replica.wakeup_version += 1
        if wake_s is not None:
            push(max(wake_s, clock.now()), "wake", (replica, replica.wakeup_version))

    routed: dict[str, tuple[RoutedRequest, str, float]] = {}  # id -> (held, group, arrival)
    ttfts: list[float] = []
    served: defaultdict[str, Counter[str]] = defaultdict(Counter)
    counts = Counter[str]()  # hit and queried prompt tokens, preemptions, finished requests
    prompts: list[list[int]] = []

    def advance(replica: _Replica) -> None:
        """Run the engine up to now, account for what happened, publish its KV events."""
        for event in replica.engine.advance(clock.now()):
            if isinstance(event, SequenceScheduled):
                counts["hits"] += event.num_cached_tokens
                counts["queries"] += event.num_prompt_tokens
            elif isinstance(event, TokenGenerated) and event.num_output_tokens == 1:
                ttfts.append(event.time_s - routed[event.request_id][2])
            elif isinstance(event, SequenceFinished):
                held, group, _ = routed.pop(event.request_id)
                held.release()
                served[group][replica.name] += 1
                counts["preemptions"] += event.num_preemptions
                counts["finished"] += 1
        poke(replica)

    for index, arrival_s in enumerate(arrivals):
        push(arrival_s, "arrival", index)
    push(0.0, "scrape")
    while heap and counts["finished"] < len(arrivals):
        clock.now_s, _, kind, payload = heapq.heappop(heap)
        if kind == "scrape":
            for name, replica in replicas.items():
                stats = replica.engine.stats()
                store.update_metrics(
                    name,
                    EndpointMetrics(
                        waiting_queue_size=stats.num_waiting,
                        running_requests=stats.num_running,
                        kv_cache_usage_ratio=stats.kv_usage,
                        cache_block_size_tokens=settings.block_size,
                        num_gpu_blocks=settings.num_gpu_blocks,
                        updated_at_s=clock.now(),
                    ),
                )
            push(clock.now() + scrape_interval_s, "scrape")
        elif kind == "kv":
            name, seq, encoded = payload
            for plugin in precise:
                batch = plugin.indexer.decode(encoded)  # the picker's decoder, as off the ZMQ socket
                if batch is not None:
                    plugin.indexer.apply(name, seq, batch)
        elif kind == "arrival":
            spec = specs[payload]
            body = spec.body()
            request = InferenceRequest(f"r{payload}", spec.model, spec.model, spec.prompt_text(), body)
            tokens = tokenizer.token_ids(request)
            prompts.append(tokens)
            held = run_sync(director.route(request))
            replica = replicas[held.decision.endpoints[0].name]
            routed[request.request_id] = (held, spec.prefix_group, clock.now())
            replica.engine.submit(
                GenerationRequest(request.request_id, tuple(tokens), spec.max_tokens, ignore_eos=True),
                clock.now(),
            )
            advance(replica)
        else:
            replica, version = payload
            if version == replica.wakeup_version:
                advance(replica)

    bound = prefix_cache_bound(prompts, fleet.block_size, fleet.replicas, fleet.num_gpu_blocks)
    shared = [len(counts) for counts in served.values() if sum(counts.values()) >= 2]
    return CapacityResult(
        sent=len(prompts),
        hit_rate=counts["hits"] / counts["queries"] if counts["queries"] else 0.0,
        bound_hit_rate=bound.hit_rate,
        pooled_lru_hit_rate=pooled_lru_hit_rate(prompts, fleet.block_size, fleet.replicas * fleet.num_gpu_blocks),
        replicas_per_group=statistics.fmean(shared) if shared else 0.0,
        ttft_p50_s=percentile(ttfts, 50) or 0.0,
        ttft_p90_s=percentile(ttfts, 90) or 0.0,
        preemptions=counts["preemptions"],
    )


def with_overrides(config: EndpointPickerConfig, overrides: list[str]) -> EndpointPickerConfig:
    """``[plugin-type:]dotted.camelCase.key=YAML value`` applied to the plugin of that type (default
    ``precise-prefix-cache-scorer``) when ``config`` has one."""
    data = config.model_dump(by_alias=True, exclude_unset=True)
    for override in overrides:
        target, separator, value = override.partition("=")
        if not separator:
            raise SystemExit(f"--set {override!r}: expected [plugin-type:]key.path=value")
        plugin_type, _, path = target.rpartition(":")
        plugin_type = plugin_type or "precise-prefix-cache-scorer"
        plugin = next((p for p in data["plugins"] if p["type"] == plugin_type), None)
        if plugin is None:
            continue
        node = plugin.setdefault("parameters", {})
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = yaml.safe_load(value)
    return EndpointPickerConfig.model_validate(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--scenario", default="capacity-bound-chat")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds; figures are their means")
    parser.add_argument("--profile", action="append", help="shipped profile name or a YAML file (repeatable)")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="plugin parameter override for every profile, e.g. spill.queueDepthThreshold=2")
    parser.add_argument("--event-delay-ms", type=float, default=5.0)
    parser.add_argument("--scrape-interval-ms", type=float, default=50.0)
    args = parser.parse_args()
    bench_config, _ = load_config(None, args.preset)
    scenario = next((s for s in bench_config.scenarios if s.name == args.scenario), None)
    if scenario is None:
        raise SystemExit(f"--scenario {args.scenario!r} is not in the {args.preset} preset")
    fleet = bench_config.fleet_for(scenario)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"# {scenario.name} in virtual time: seeds {seeds}, KV events {args.event_delay_ms:g} ms late, "
          f"scrapes every {args.scrape_interval_ms:g} ms")
    print("| profile | sent | prefix hit | bound | of bound | pooled LRU of bound | replicas per group "
          "| TTFT p50 ms | TTFT p90 ms | preemptions |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.profile or ["precise", "recommended"]:
        config = load_config_file(Path(name)) if name.endswith((".yaml", ".yml")) else profile_config(name)
        config = with_overrides(config, args.overrides)
        runs = [simulate(config, scenario, fleet, seed, args.event_delay_ms / 1000,
                         args.scrape_interval_ms / 1000) for seed in seeds]
        print(
            f"| {name} | {statistics.fmean(r.sent for r in runs):.0f} "
            f"| {statistics.fmean(r.hit_rate for r in runs):.1%} "
            f"| {statistics.fmean(r.bound_hit_rate for r in runs):.1%} "
            f"| {statistics.fmean(r.of_bound for r in runs):.1%} "
            f"| {statistics.fmean(r.pooled_lru_hit_rate / r.bound_hit_rate for r in runs):.1%} "
            f"| {statistics.fmean(r.replicas_per_group for r in runs):.2f} "
            f"| {statistics.fmean(r.ttft_p50_s for r in runs) * 1000:,.0f} "
            f"| {statistics.fmean(r.ttft_p90_s for r in runs) * 1000:,.0f} "
            f"| {statistics.fmean(r.preemptions for r in runs):.1f} |"
        )


if __name__ == "__main__":
    main()
