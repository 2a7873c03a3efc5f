"""SimMetrics driven by an engine in virtual time: every vLLM series moves the way vLLM's would."""

from __future__ import annotations

import random

import pytest
from sim.clock import FakeClock
from sim.engine import Engine, EngineConfig, GenerationRequest
from sim.latency_profile import LatencyProfile
from sim.metrics import SimMetrics


@pytest.fixture
def rig(h100_profile: LatencyProfile) -> tuple[Engine, SimMetrics, FakeClock]:
    config = EngineConfig(
        profile=h100_profile, max_num_seqs=2, num_gpu_blocks=256, max_model_len=2048, max_loras=1
    )
    engine = Engine(config, random.Random(1))
    clock = FakeClock(100.0)
    # Unix time moves with the engine's clock.
    metrics = SimMetrics("llama", config, engine.stats, wall_clock=lambda: 1_700_000_000.0 + clock.now())
    return engine, metrics, clock


def step(engine: Engine, metrics: SimMetrics, clock: FakeClock, seconds: float) -> str:
    clock.advance(seconds)
    metrics.observe(engine.advance(clock.now()))
    return metrics.render().decode()


def test_series_follow_a_burst_of_requests(rig, prom) -> None:
    engine, metrics, clock = rig
    shared = tuple(range(64))
    for index in range(4):
        prompt = shared + tuple(range(10_000 * (index + 1), 10_000 * (index + 1) + 20))
        engine.submit(
            GenerationRequest(
                f"r{index}", prompt, max_tokens=30, ignore_eos=True, lora_name="food" if index == 3 else None
            ),
            clock.now(),
        )
    text = step(engine, metrics, clock, 0.0)
    assert prom.value(text, "vllm:num_requests_running") == 2
    assert prom.value(text, "vllm:num_requests_waiting") == 2  # past max_num_seqs
    assert prom.value(text, "vllm:kv_cache_usage_perc") > 0
    lora = prom.samples(text)["vllm:lora_requests_info"][0]
    assert lora == (
        {"max_lora": "1", "running_lora_adapters": "", "waiting_lora_adapters": "food"},
        1_700_000_100.0,  # stamped when the engine last produced output
    )
    assert (
        prom.value(text, "vllm:prefix_cache_hits_total") == 64
    )  # r1 reuses the 4 full blocks of the shared 64-token prefix

    text = step(engine, metrics, clock, 0.25)  # r0 and r1 are done (~0.2 s); r2 and r3 run
    assert prom.value(text, "vllm:request_success_total", finished_reason="length") == 2
    assert prom.samples(text)["vllm:lora_requests_info"][0][0]["running_lora_adapters"] == "food"
    assert prom.value(text, "vllm:num_requests_waiting") == 0

    text = step(engine, metrics, clock, 1.0)
    last_output_at = prom.samples(text)["vllm:lora_requests_info"][0][1]
    assert 1_700_000_100.0 < last_output_at <= 1_700_000_000.0 + clock.now()
    idle = step(engine, metrics, clock, 5.0)
    assert prom.samples(idle)["vllm:lora_requests_info"][0][1] == last_output_at  # idle: no new stamp
    assert prom.value(text, "vllm:num_requests_running") == 0
    assert prom.value(text, "vllm:kv_cache_usage_perc") == 0.0
    assert prom.value(text, "vllm:request_success_total", finished_reason="length") == 4
    assert prom.value(text, "vllm:generation_tokens_total") == 120
    assert prom.value(text, "vllm:prompt_tokens_total") == 4 * 84
    assert prom.value(text, "vllm:prefix_cache_queries_total") == 4 * 84
    assert prom.value(text, "vllm:time_to_first_token_seconds_count") == 4
    assert prom.value(text, "vllm:inter_token_latency_seconds_count") == 4 * 29
    assert prom.value(text, "vllm:time_per_output_token_seconds_count") == 4 * 29  # legacy alias
    assert prom.value(text, "vllm:time_per_output_token_seconds_sum") == prom.value(
        text, "vllm:inter_token_latency_seconds_sum"
    )
    assert prom.value(text, "vllm:e2e_request_latency_seconds_count") == 4
    # Requests that waited for a batch slot have a longer time to first token than the first two.
    assert prom.value(text, "vllm:request_queue_time_seconds_sum") > 0.2


def test_registries_are_per_replica(h100_profile: LatencyProfile, prom) -> None:
    config = EngineConfig(profile=h100_profile, num_gpu_blocks=64, max_model_len=512)
    one = SimMetrics("a", config, Engine(config, random.Random(0)).stats, wall_clock=lambda: 0.0)
    two = SimMetrics("b", config, Engine(config, random.Random(0)).stats, wall_clock=lambda: 0.0)
    assert one.registry is not two.registry
    assert 'model_name="a"' in one.render().decode() and 'model_name="b"' not in one.render().decode()


def test_per_token_histogram_follows_prometheus_bucket_rules(prom) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from sim.metrics import _PerTokenHistogram

    histogram = _PerTokenHistogram(
        [("itl_seconds", "x"), ("legacy_seconds", "y")], (0.01, 0.1), {"engine": "0"}
    )
    for value in (0.005, 0.01, 0.05, 0.5):
        histogram.observe(value)
    registry = CollectorRegistry()
    registry.register(histogram)
    text = generate_latest(registry).decode()
    for name in ("itl_seconds", "legacy_seconds"):
        assert prom.value(text, f"{name}_bucket", le="0.01") == 2  # le: a value on the bound counts
        assert prom.value(text, f"{name}_bucket", le="0.1") == 3
        assert prom.value(text, f"{name}_bucket", le="+Inf") == 4
        assert prom.value(text, f"{name}_count") == 4
        assert prom.value(text, f"{name}_sum") == pytest.approx(0.565)


def test_preemptions_and_recomputed_tokens_are_counted(h100_profile: LatencyProfile, prom) -> None:
    # Three sequences growing to 17 blocks each in 40: decode runs out of blocks and preempts.
    config = EngineConfig(
        profile=h100_profile, num_gpu_blocks=40, max_model_len=640, scheduling_policy="priority"
    )
    engine = Engine(config, random.Random(1))
    clock = FakeClock()
    metrics = SimMetrics("llama", config, engine.stats, wall_clock=lambda: 1_700_000_000.0 + clock.now())
    for index in range(3):
        prompt = tuple(range(1000 * index, 1000 * index + 64))
        engine.submit(GenerationRequest(f"r{index}", prompt, max_tokens=200, ignore_eos=True), clock.now())
    text = step(engine, metrics, clock, 0.0)
    assert prom.value(text, "vllm:num_preemptions_total") == 0
    for _ in range(2000):
        text = step(engine, metrics, clock, 0.01)
    assert prom.value(text, "vllm:num_preemptions_total") >= 1
    assert prom.value(text, "sim:recomputed_tokens_total") > 0
    assert prom.value(text, "vllm:request_success_total", finished_reason="length") == 3
