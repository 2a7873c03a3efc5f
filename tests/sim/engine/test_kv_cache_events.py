"""The engine reports every newly cached full block, every eviction and a cache reset (virtual time)."""

from __future__ import annotations

import random

from sim.clock import FakeClock
from sim.engine import Engine, EngineConfig, GenerationRequest
from sim.engine.kv_block_pool import chain_block_hashes
from sim.engine.kv_cache_events import AllBlocksCleared, BlocksRemoved, BlocksStored, KVCacheEvent
from sim.latency_profile import LatencyProfile

from tests.sim.engine.test_sim_engine import run_until_idle


class Recorder:
    def __init__(self) -> None:
        self.events: list[KVCacheEvent] = []

    def record(self, event: KVCacheEvent) -> None:
        self.events.append(event)


def _engine(profile: LatencyProfile, num_gpu_blocks: int = 64) -> tuple[Engine, Recorder]:
    recorder = Recorder()
    config = EngineConfig(profile=profile, num_gpu_blocks=num_gpu_blocks, max_model_len=512, block_size=16)
    return Engine(config, random.Random(1), recorder), recorder


def _request(
    request_id: str, tokens: range, lora: str | None = None, salt: str | None = None
) -> GenerationRequest:
    return GenerationRequest(
        request_id, tuple(tokens), max_tokens=4, ignore_eos=True, lora_name=lora, cache_salt=salt
    )


def test_full_prompt_blocks_are_stored_with_their_tokens(h100_profile: LatencyProfile) -> None:
    engine, recorder = _engine(h100_profile)
    clock = FakeClock()
    engine.submit(_request("a", range(100, 150)), clock.now())  # 50 tokens: 3 full blocks + 2
    run_until_idle(engine, clock)
    stored = [event for event in recorder.events if isinstance(event, BlocksStored)]
    assert len(stored) == 1
    event = stored[0]
    assert event.block_hashes == tuple(chain_block_hashes(list(range(100, 150)), 16))
    assert event.parent_block_hash is None
    assert event.token_ids == tuple(range(100, 148))
    assert event.block_size == 16 and event.lora_name is None


def test_a_shared_prefix_stores_only_the_new_tail_with_its_parent(h100_profile: LatencyProfile) -> None:
    engine, recorder = _engine(h100_profile)
    clock = FakeClock()
    engine.submit(_request("a", range(0, 40)), clock.now())
    run_until_idle(engine, clock)
    recorder.events.clear()
    longer = GenerationRequest("b", (*range(0, 32), *range(500, 540)), max_tokens=4, ignore_eos=True)
    engine.submit(longer, clock.now())
    run_until_idle(engine, clock)
    stored = [event for event in recorder.events if isinstance(event, BlocksStored)]
    hashes = chain_block_hashes(list(longer.prompt_token_ids), 16)
    assert [event.block_hashes for event in stored] == [tuple(hashes[2:4])]
    assert stored[0].parent_block_hash == hashes[1]
    assert stored[0].token_ids == longer.prompt_token_ids[32:64]


def test_adapter_and_salt_travel_with_the_blocks(h100_profile: LatencyProfile) -> None:
    engine, recorder = _engine(h100_profile)
    clock = FakeClock()
    engine.submit(_request("a", range(0, 32), lora="sql", salt="tenant-1"), clock.now())
    run_until_idle(engine, clock)
    (event,) = [event for event in recorder.events if isinstance(event, BlocksStored)]
    assert event.lora_name == "sql" and event.cache_salt == "tenant-1"


def test_evictions_are_reported_with_the_evicted_hashes(h100_profile: LatencyProfile) -> None:
    engine, recorder = _engine(h100_profile, num_gpu_blocks=40)
    clock = FakeClock()
    first = _request("a", range(0, 320))  # 20 blocks, cached after it finishes
    engine.submit(first, clock.now())
    run_until_idle(engine, clock)
    engine.submit(_request("b", range(10_000, 10_480)), clock.now())  # 30 blocks + growth: evicts
    run_until_idle(engine, clock)
    removed = [h for event in recorder.events if isinstance(event, BlocksRemoved) for h in event.block_hashes]
    first_hashes = set(chain_block_hashes(list(first.prompt_token_ids), 16))
    assert removed and set(removed) <= first_hashes
    # Tails go first: the evicted blocks are the last ones of the first prompt.
    assert chain_block_hashes(list(first.prompt_token_ids), 16)[-1] in removed


def test_reset_reports_all_blocks_cleared_and_forgets_prefixes(h100_profile: LatencyProfile) -> None:
    engine, recorder = _engine(h100_profile)
    clock = FakeClock()
    engine.submit(_request("a", range(0, 64)), clock.now())
    run_until_idle(engine, clock)
    engine.reset_prefix_cache()
    assert isinstance(recorder.events[-1], AllBlocksCleared)
    assert engine.stats().num_cached_blocks == 0
    recorder.events.clear()
    engine.submit(_request("b", range(0, 64)), clock.now())
    events = run_until_idle(engine, clock)
    assert any(isinstance(event, BlocksStored) for event in recorder.events)  # stored afresh, not hit
    assert [e.num_cached_tokens for e in events if type(e).__name__ == "SequenceScheduled"] == [0]
