"""llm-d-router v0.10's "sticky until saturated" plugins: approx-prefix-cache-producer, inflight-load-producer,
token-load-scorer and prefix-cache-affinity-filter, their formulas and the builder's producer binding."""

from __future__ import annotations

import random

import pytest
from picker.config import ConfigError, llm_d_default_config, load_config_text
from picker.config.builder import build_scheduling
from picker.framework.clock import FakeClock
from picker.framework.context import NullPluginMetrics, PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import ProfileResult, SchedulingResult
from picker.framework.producers import InFlightLoad
from picker.framework.types import EndpointState
from picker.plugins import builtin_registry
from picker.plugins.approx_prefix_cache_producer import (
    ApproxPrefixCacheProducer,
    ApproxPrefixCacheProducerParameters,
)
from picker.plugins.inflight_load_producer import InFlightLoadProducerParameters, InFlightLoadProducerPlugin
from picker.plugins.prefix_cache_affinity_filter import (
    PrefixCacheAffinityFilter,
    PrefixCacheAffinityFilterParameters,
)
from picker.plugins.token_load_scorer import TokenLoadScorer, TokenLoadScorerParameters
from pydantic import ValidationError

from tests.picker.unit.builders import endpoint_state, inference_request

PROMPT = "abcdefgh" * 128  # 1024 characters = 256 estimated tokens = 4 blocks of 64 tokens (256 characters)
E1, E2, E3 = endpoint_state(1), endpoint_state(2), endpoint_state(3)


class Plugins:
    def __init__(
        self, producer: dict | None = None, load: dict | None = None, gate: dict | None = None
    ) -> None:
        self.prefix = ApproxPrefixCacheProducer(
            ApproxPrefixCacheProducerParameters.model_validate(producer or {}), NullPluginMetrics()
        )
        self.load = InFlightLoadProducerPlugin(InFlightLoadProducerParameters.model_validate(load or {}))
        self.scorer = TokenLoadScorer(TokenLoadScorerParameters(queueThresholdTokens=1000))
        self.gate = PrefixCacheAffinityFilter(
            PrefixCacheAffinityFilterParameters.model_validate(gate or {}), random.Random(1)
        )
        by_name = {p.name: p for p in (self.prefix, self.load, self.scorer, self.gate)}
        for consumer in (self.load, self.scorer, self.gate):
            consumer.bind_producers(by_name)

    def route(self, request_id: str, target: EndpointState, candidates=(E1, E2, E3), prompt: str = PROMPT):
        """What the director does: the producers see the request, then pre-request hooks record the pick."""
        request = inference_request(prompt, request_id=request_id)
        self.prefix.match_info(request, candidates)
        result = SchedulingResult({"default": ProfileResult((target,))}, "default")
        self.load.pre_request(request, result)
        self.prefix.pre_request(request, result)
        return request


def test_producer_blocks_are_64_tokens_at_least_and_record_the_pick() -> None:
    plugins = Plugins()
    request = plugins.route("a", E1)
    info = plugins.prefix.match_info(inference_request(PROMPT, request_id="b"), (E1, E2))
    assert (info["e1"].matched_blocks, info["e1"].total_blocks, info["e1"].block_size_tokens) == (4, 4, 64)
    assert info["e1"].score == 1.0 and info["e2"].score == 0.0
    assert request.request_id == "a" and plugins.prefix.index_size() == 4


def test_producer_autotunes_to_the_servers_block_size_and_caps_tokens() -> None:
    plugins = Plugins(producer={"maxPrefixTokensToMatch": 256})
    tuned = endpoint_state(1, cache_block_size_tokens=128)
    info = plugins.prefix.match_info(inference_request(PROMPT), (tuned,))
    assert (info["e1"].total_blocks, info["e1"].block_size_tokens) == (2, 128)
    capped = Plugins(producer={"maxPrefixTokensToMatch": 128}).prefix.match_info(
        inference_request(PROMPT), (E1,)
    )
    assert capped["e1"].total_blocks == 2  # 128 tokens / 64-token blocks


def test_producer_parameters_follow_v0_10() -> None:
    assert ApproxPrefixCacheProducerParameters.model_validate({"blockSize": 128}).block_size_tokens == 128
    with pytest.raises(ValidationError, match="blockSizeTokens must be > 0"):
        ApproxPrefixCacheProducerParameters.model_validate({"autoTune": False, "blockSizeTokens": 0})


def test_inflight_load_counts_uncached_tokens_and_releases_them_when_streaming_starts() -> None:
    plugins = Plugins()
    plugins.route("warm", E1)  # e1 now holds the prompt
    cached = plugins.route("hit", E1)
    cold = plugins.route("miss", E2)
    assert plugins.load.load("e1").tokens == 256  # the first request (uncached) + 0 for the hit
    assert plugins.load.load("e1").requests == 2
    assert plugins.load.load("e2").tokens == 256  # e2 held none of it
    plugins.load.response_started(cold, streaming=True)  # prefill is over: the prompt tokens leave
    assert plugins.load.load("e2") == InFlightLoad(requests=1, tokens=0)
    warm_request = inference_request(PROMPT, request_id="warm")
    plugins.load.response_started(warm_request, streaming=False)  # not the routed object: no effect
    assert plugins.load.load("e1") == InFlightLoad(requests=2, tokens=256)
    plugins.load.request_released(cached)
    assert plugins.load.load("e1") == InFlightLoad(requests=1, tokens=256)


def test_inflight_load_charges_the_request_on_an_endpoint_without_the_prefix() -> None:
    plugins = Plugins()
    plugins.route("warm", E1)
    request = plugins.route("elsewhere", E3)
    assert plugins.load.load("e3").tokens == 256
    plugins.load.response_started(request, streaming=True)
    assert plugins.load.load("e3") == InFlightLoad(requests=1, tokens=0)
    plugins.load.request_released(request)
    assert plugins.load.load("e3").requests == 0


def test_inflight_load_adds_estimated_output_tokens_bounded_by_max_tokens() -> None:
    plugins = Plugins(load={"addEstimatedOutputTokens": True, "maxEstimatedOutputTokens": 100})
    request = inference_request(PROMPT, request_id="o")
    request.body["max_tokens"] = 16
    plugins.prefix.match_info(request, (E1,))
    plugins.load.pre_request(request, SchedulingResult({"d": ProfileResult((E1,))}, "d"))
    assert plugins.load.load("e1").tokens == 256 + 16  # min(1.5 x 256, max_tokens 16, 100)
    plugins.load.response_started(request, streaming=True)
    assert plugins.load.load("e1").tokens == 16  # output tokens stay until the stream closes


def test_token_load_score_is_one_minus_load_over_threshold() -> None:
    plugins = Plugins()
    plugins.route("warm", E1)
    # e1: 256 tokens in flight, 0 uncached for this request; e2: nothing in flight, 256 uncached.
    scores = plugins.scorer.score(inference_request(PROMPT, request_id="s"), (E1, E2))
    assert scores == pytest.approx([1 - 256 / 1000, 1 - 256 / 1000])
    assert (
        TokenLoadScorer(TokenLoadScorerParameters(queueThresholdTokens=0)).queue_threshold_tokens == 4194304
    )


def test_affinity_filter_keeps_holders_until_their_ttft_penalty_exceeds_the_limit() -> None:
    plugins = Plugins(gate={"maxTTFTPenaltyMs": 1000, "peakPrefillThroughput": 256})
    plugins.route("warm", E1)  # e1: 256 tokens in flight = 1000 ms estimated TTFT at 256 tok/s
    assert plugins.gate.filter(inference_request(PROMPT, request_id="x"), (E1, E2, E3)) == [E1]
    plugins.route("more", E1, prompt=PROMPT + "z" * 300)  # +75 uncached tokens: 1293 ms > 1000 ms over e2
    assert list(plugins.gate.filter(inference_request(PROMPT, request_id="y"), (E1, E2, E3))) == [E1, E2, E3]


@pytest.mark.parametrize(
    ("gate", "candidates", "expected"),
    [
        ({}, (E2, E3), [E2, E3]),  # nobody holds the prefix: keep all
        ({"affinityThreshold": 0}, (E1, E2), [E1, E2]),  # <= 0 disables the gate
        ({"explorationProbability": 1.0}, (E1, E2), [E1, E2]),  # exploration skips it
        ({"maxTTFTPenaltyMs": 0}, (E1, E2), [E1]),  # 0 = always stick
        ({}, (E1,), [E1]),  # one candidate: nothing to filter
    ],
)
def test_affinity_filter_edges(gate: dict, candidates: tuple, expected: list) -> None:
    plugins = Plugins(gate=gate)
    plugins.route("warm", E1)
    assert list(plugins.gate.filter(inference_request(PROMPT, request_id="q"), candidates)) == expected


def test_affinity_filter_rejects_the_latency_predictor_source() -> None:
    with pytest.raises(ValidationError, match="ttftSource"):
        PrefixCacheAffinityFilterParameters.model_validate({"ttftSource": "latencyPredictor"})


def _build(text: str):
    context = PluginContext(FakeClock(), random.Random(1), InFlightTracker())
    return build_scheduling(load_config_text(text), builtin_registry(), context)


def test_the_guide_default_builds_filter_then_scorer_with_the_producers_as_hooks() -> None:
    context = PluginContext(FakeClock(), random.Random(1), InFlightTracker())
    setup = build_scheduling(llm_d_default_config(), builtin_registry(), context)
    profile = setup.scheduler.profiles["default"]
    assert [f.plugin_type for f in profile.filters] == ["prefix-cache-affinity-filter"]
    assert [w.scorer.plugin_type for w in profile.scorers] == ["token-load-scorer"]
    assert profile.picker.plugin_type == "max-score-picker"
    assert {h.plugin_type for h in setup.pre_request_hooks} == {
        "inflight-load-producer",
        "approx-prefix-cache-producer",
    }
    assert [h.plugin_type for h in setup.released_hooks] == ["inflight-load-producer"]


def test_a_missing_producer_is_a_config_error_naming_the_parameter() -> None:
    with pytest.raises(ConfigError) as error:
        _build(
            "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n"
            "- type: token-load-scorer\n- type: prefix-cache-affinity-filter\n"
            "  parameters: {inFlightLoadProducerName: load}\n- {type: inflight-load-producer, name: load}\n"
        )
    by_path = {issue.path: issue.message for issue in error.value.issues}
    assert set(by_path) == {"plugins[0].parameters", "plugins[1].parameters"}
    assert (
        "inFlightLoadProducerName: no plugin named 'inflight-load-producer'"
        in by_path["plugins[0].parameters"]
    )
    assert "prefixMatchInfoProducerName" in by_path["plugins[1].parameters"]
    assert "approx-prefix-cache-producer" in by_path["plugins[1].parameters"]
