"""The engine in virtual time: batching, queueing, KV blocks, prefix caching, LoRA slots, latency."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from sim.clock import FakeClock
from sim.engine import (
    Engine,
    EngineEvent,
    FinishReason,
    GenerationRequest,
    SequenceFinished,
    SequenceScheduled,
    TokenGenerated,
)

from tests.sim.engine.virtual_time import finished, request, run_until_idle

MakeEngine = Callable[..., Engine]


def test_queue_grows_past_max_num_seqs(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(max_num_seqs=4), FakeClock()
    for index in range(10):
        engine.submit(request(f"r{index}", first_token=index * 1000), clock.now())
    engine.advance(clock.now())
    stats = engine.stats()
    assert (stats.num_running, stats.num_waiting) == (4, 6)
    events = run_until_idle(engine, clock)
    assert len(finished(events)) == 10
    assert (engine.stats().num_running, engine.stats().num_waiting) == (0, 0)


def test_continuous_batching_admits_newcomers_while_others_decode(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(), FakeClock()
    engine.submit(request("long", max_tokens=200), clock.now())
    engine.advance(clock.now())
    clock.advance(0.1)
    engine.advance(clock.now())
    engine.submit(request("late", first_token=9000, max_tokens=5), clock.now())
    events = run_until_idle(engine, clock)
    done = finished(events)
    assert done["late"].time_s < done["long"].time_s
    scheduled = {e.request_id: e for e in events if isinstance(e, SequenceScheduled)}
    assert scheduled["late"].queue_time_s < 0.02  # waits at most for the step in flight


def test_kv_usage_rises_with_load_and_returns_to_zero(make_engine: MakeEngine) -> None:
    usage = []
    for load in (1, 2, 4):
        engine, clock = make_engine(num_gpu_blocks=512, max_model_len=4096), FakeClock()
        for index in range(load):
            engine.submit(request(f"r{index}", prompt_len=300, first_token=index * 1000, max_tokens=100), 0.0)
        engine.advance(clock.now())
        usage.append(engine.stats().kv_usage)
        run_until_idle(engine, clock)
        assert engine.stats().kv_usage == 0.0
    assert usage[0] > 0
    assert usage[1] == pytest.approx(2 * usage[0])
    assert usage[2] == pytest.approx(4 * usage[0])


def test_kv_usage_grows_during_decode(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(num_gpu_blocks=512, max_model_len=4096), FakeClock()
    engine.submit(request("r", prompt_len=16, max_tokens=400), clock.now())
    engine.advance(clock.now())
    at_start = engine.stats().num_used_blocks
    clock.advance(1.0)
    engine.advance(clock.now())
    assert engine.stats().num_used_blocks > at_start


def test_admission_is_optimistic_and_never_overcommits(make_engine: MakeEngine) -> None:
    # 40 blocks = 640 tokens. Like vLLM, admission takes blocks for the prompt only (200 tokens = 13
    # blocks), so three start; each grows to 19 blocks while decoding, and preemption makes the room.
    engine, clock = make_engine(num_gpu_blocks=40, max_model_len=640, max_num_seqs=16), FakeClock()
    for index in range(5):
        engine.submit(
            request(f"r{index}", prompt_len=200, max_tokens=100, first_token=index * 1000), clock.now()
        )
    engine.advance(clock.now())
    assert (engine.stats().num_running, engine.stats().num_waiting) == (3, 2)
    peak_blocks = 0
    events: list[EngineEvent] = []
    for _ in range(10_000):
        wakeup_s = engine.next_wakeup_s()
        if wakeup_s is None:
            break
        clock.set(wakeup_s)
        events.extend(engine.advance(clock.now()))
        peak_blocks = max(peak_blocks, engine.stats().num_used_blocks)
    assert peak_blocks <= 40
    assert engine.stats().num_waiting == 0
    done = finished(events)
    assert all(done[f"r{index}"].num_output_tokens == 100 for index in range(5))
    assert sum(e.num_preemptions for e in done.values()) > 0


def test_prefix_hits_when_prompts_share_a_prefix(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(), FakeClock()
    shared = tuple(range(500, 500 + 256))
    for index in range(3):
        suffix = tuple(range(90_000 + index * 100, 90_000 + index * 100 + 40))
        engine.submit(
            GenerationRequest(f"s{index}", shared + suffix, max_tokens=4, ignore_eos=True), clock.now()
        )
        run_until_idle(engine, clock)
    engine.submit(request("unrelated", prompt_len=296, first_token=50_000, max_tokens=4), clock.now())
    events = run_until_idle(engine, clock)
    cached = {e.request_id: e.num_cached_tokens for e in events if isinstance(e, SequenceFinished)}
    assert cached["unrelated"] == 0
    engine2, clock2 = make_engine(), FakeClock()
    hits = []
    for index in range(3):
        suffix = tuple(range(90_000 + index * 100, 90_000 + index * 100 + 40))
        engine2.submit(
            GenerationRequest(f"s{index}", shared + suffix, max_tokens=4, ignore_eos=True), clock2.now()
        )
        hits.extend(
            e.num_cached_tokens for e in run_until_idle(engine2, clock2) if isinstance(e, SequenceFinished)
        )
    assert hits == [0, 256, 256]


def test_prefix_hit_cuts_time_to_first_token(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(), FakeClock()
    prompt = tuple(range(2000))
    ttft = []
    for index in range(2):
        engine.submit(GenerationRequest(f"r{index}", prompt, max_tokens=2, ignore_eos=True), clock.now())
        events = run_until_idle(engine, clock)
        done = finished(events)[f"r{index}"]
        assert done.first_token_s is not None
        ttft.append(done.first_token_s - done.arrival_s)
    assert ttft[1] < ttft[0] / 5


def test_adapters_do_not_share_cached_blocks(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(max_loras=2), FakeClock()
    engine.submit(request("base", prompt_len=64), clock.now())
    run_until_idle(engine, clock)
    engine.submit(request("adapter", prompt_len=64, lora="food-review"), clock.now())
    assert finished(run_until_idle(engine, clock))["adapter"].num_cached_tokens == 0


def test_lru_eviction_drops_the_least_recently_used_prefix(make_engine: MakeEngine) -> None:
    # 18 blocks hold two requests of 128 prompt + 16 output tokens (9 blocks each).
    engine, clock = make_engine(num_gpu_blocks=18, max_model_len=288), FakeClock()

    def run(name: str, first_token: int) -> int:
        engine.submit(request(name, prompt_len=128, max_tokens=16, first_token=first_token), clock.now())
        return finished(run_until_idle(engine, clock))[name].num_cached_tokens

    assert run("a", 0) == 0
    assert run("b", 10_000) == 0
    assert run("c", 20_000) == 0  # needs 9 blocks: evicts a's prefix, freed before b's
    assert run("b-again", 10_000) == 112  # 7 of 8 prompt blocks (the last token is always computed)
    assert run("a-again", 0) < 112


def test_adapter_is_listed_running_while_in_use(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(max_loras=1), FakeClock()
    engine.submit(request("r", lora="food-review", max_tokens=50), clock.now())
    engine.advance(clock.now())
    stats = engine.stats()
    assert stats.waiting_lora_adapters == ("food-review",)  # loading into its slot
    assert stats.running_lora_adapters == ()
    clock.advance(0.05)
    engine.advance(clock.now())
    stats = engine.stats()
    assert stats.running_lora_adapters == ("food-review",)
    assert stats.waiting_lora_adapters == ()
    run_until_idle(engine, clock)
    assert engine.stats().running_lora_adapters == ()
    assert engine.stats().resident_lora_adapters == ("food-review",)


def test_max_loras_bounds_distinct_adapters_in_the_batch(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(max_loras=1), FakeClock()
    engine.submit(request("a", lora="adapter-a", max_tokens=40), clock.now())
    engine.submit(request("b", lora="adapter-b", max_tokens=40, first_token=5000), clock.now())
    engine.submit(request("plain", max_tokens=40, first_token=9000), clock.now())
    events = run_until_idle(engine, clock)
    scheduled = {e.request_id: e.time_s for e in events if isinstance(e, SequenceScheduled)}
    done = finished(events)
    assert scheduled["plain"] == 0.0  # an adapter wait does not block base-model requests
    assert scheduled["b"] >= done["a"].time_s  # b's adapter needs a's slot, free only when a is done


def test_lora_load_delay_is_paid_once(make_engine: MakeEngine, h100_profile) -> None:
    engine, clock = make_engine(max_loras=1), FakeClock()
    engine.submit(request("first", lora="x", max_tokens=2), clock.now())
    events = run_until_idle(engine, clock)
    first_wait = next(e.queue_time_s for e in events if isinstance(e, SequenceScheduled))
    engine.submit(request("second", lora="x", max_tokens=2), clock.now())
    events = run_until_idle(engine, clock)
    second_wait = next(e.queue_time_s for e in events if isinstance(e, SequenceScheduled))
    assert first_wait == pytest.approx(h100_profile.lora_load_s)
    assert second_wait == 0.0


@pytest.mark.parametrize("batch", [1, 8, 32, 64, 128])
def test_step_time_grows_with_batch_size(h100_profile, batch: int) -> None:
    smaller = h100_profile.step_time_s(decode_seqs=batch, prefill_tokens=0, context_tokens=batch * 500)
    larger = h100_profile.step_time_s(
        decode_seqs=batch + 1, prefill_tokens=0, context_tokens=(batch + 1) * 500
    )
    assert larger > smaller


def test_inter_token_latency_matches_the_calibration_point(make_engine: MakeEngine) -> None:
    # Google's single-cluster Inference Gateway tutorial: ~10 ms per output token at a batch of ~50 (short contexts, no prefill in the step).
    engine, clock = make_engine(), FakeClock()
    for index in range(50):
        engine.submit(
            request(f"r{index}", prompt_len=16, first_token=index * 100, max_tokens=64), clock.now()
        )
    events = run_until_idle(engine, clock)
    token_times = sorted({e.time_s for e in events if isinstance(e, TokenGenerated)})
    steady_gaps = [b - a for a, b in itertools.pairwise(token_times[5:41])]
    assert sum(steady_gaps) / len(steady_gaps) == pytest.approx(0.010, rel=0.1)


def test_per_token_latency_rises_with_concurrency(make_engine: MakeEngine) -> None:
    def mean_itl(concurrency: int) -> float:
        engine, clock = make_engine(), FakeClock()
        for index in range(concurrency):
            engine.submit(
                request(f"r{index}", prompt_len=32, first_token=index * 100, max_tokens=64), clock.now()
            )
        events = run_until_idle(engine, clock)
        done = finished(events).values()
        return sum((e.time_s - e.first_token_s) / (e.num_output_tokens - 1) for e in done) / len(done)

    itl = [mean_itl(concurrency) for concurrency in (1, 16, 64, 200)]
    assert itl == sorted(itl) and itl[-1] > 2 * itl[0]


@pytest.mark.parametrize(("step_budget", "steps"), [(512, 4), (8192, 1)])
def test_long_prompt_prefills_in_chunks(
    make_engine: MakeEngine, h100_profile, step_budget: int, steps: int
) -> None:
    engine, clock = make_engine(max_num_batched_tokens=step_budget), FakeClock()
    engine.submit(request("long", prompt_len=2048, max_tokens=1), clock.now())
    done = finished(run_until_idle(engine, clock))["long"]
    expected_s = steps * h100_profile.step_overhead_s + 2048 * h100_profile.prefill_per_token_s
    assert done.first_token_s == pytest.approx(expected_s)


def test_output_length_rules(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(seed=3), FakeClock()
    engine.submit(request("exact", max_tokens=37, ignore_eos=True), clock.now())
    for index in range(40):
        engine.submit(
            request(f"free{index}", max_tokens=4000, ignore_eos=False, first_token=index * 100), clock.now()
        )
    done = finished(run_until_idle(engine, clock))
    assert (done["exact"].num_output_tokens, done["exact"].finish_reason) == (37, FinishReason.LENGTH)
    natural = [done[f"free{index}"] for index in range(40)]
    assert all(e.finish_reason is FinishReason.STOP for e in natural)
    assert len({e.num_output_tokens for e in natural}) > 10


def test_min_tokens_delays_the_natural_stop(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(seed=3), FakeClock()
    for index in range(20):
        engine.submit(GenerationRequest(f"r{index}", (1, 2, 3), max_tokens=1000, min_tokens=400), clock.now())
    done = finished(run_until_idle(engine, clock))
    assert min(e.num_output_tokens for e in done.values()) >= 400


def test_stop_string_position_ends_the_sequence(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(), FakeClock()
    engine.submit(
        GenerationRequest("r", (1, 2, 3), max_tokens=50, ignore_eos=True, stop_at_tokens=7), clock.now()
    )
    done = finished(run_until_idle(engine, clock))["r"]
    assert (done.num_output_tokens, done.finish_reason) == (7, FinishReason.STOP)


def test_same_seed_same_lengths(make_engine: MakeEngine) -> None:
    def lengths(seed: int) -> list[int]:
        engine, clock = make_engine(seed=seed), FakeClock()
        for index in range(20):
            engine.submit(request(f"r{index}", max_tokens=500, ignore_eos=False), clock.now())
        done = finished(run_until_idle(engine, clock))
        return [done[f"r{index}"].num_output_tokens for index in range(20)]

    assert lengths(11) == lengths(11)
    assert lengths(11) != lengths(12)


def test_abort_frees_blocks_and_reports_abort(make_engine: MakeEngine) -> None:
    engine, clock = make_engine(), FakeClock()
    engine.submit(request("gone", max_tokens=500), clock.now())
    engine.submit(request("queued", max_tokens=500, first_token=7000), clock.now())
    engine.advance(clock.now())
    assert engine.stats().num_used_blocks > 0
    record = engine.abort("gone", clock.now())
    assert record is not None and record.finish_reason is FinishReason.ABORT
    assert engine.abort("queued", clock.now()) is not None
    assert engine.abort("unknown", clock.now()) is None
    run_until_idle(engine, clock)
    assert engine.stats().num_used_blocks == 0


def test_rejects_requests_beyond_the_context_window(make_engine: MakeEngine) -> None:
    from sim.engine import RequestRejected

    engine = make_engine(max_model_len=1024)
    with pytest.raises(RequestRejected, match="context window is 1024"):
        engine.submit(request("big", prompt_len=1000, max_tokens=100), 0.0)


def test_idle_engine_reports_no_wakeup(make_engine: MakeEngine) -> None:
    engine = make_engine()
    assert engine.next_wakeup_s() is None
    assert engine.advance(123.0) == []


def test_adapter_waits_resolve_when_arrivals_are_staggered(make_engine: MakeEngine) -> None:
    # Regression: a second adapter arriving while the first is still loading must not stall the engine.
    engine, clock = make_engine(max_loras=1), FakeClock()
    engine.submit(request("a", lora="adapter-a", max_tokens=5), clock.now())
    engine.advance(clock.now())
    clock.advance(0.005)
    engine.submit(request("b", lora="adapter-b", max_tokens=5, first_token=5000), clock.now())
    done = finished(run_until_idle(engine, clock))
    assert set(done) == {"a", "b"}
    assert done["b"].time_s > done["a"].time_s
