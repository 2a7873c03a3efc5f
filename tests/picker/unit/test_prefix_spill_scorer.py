from __future__ import annotations

import pytest
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import ProfileResult, SchedulingResult
from picker.plugins.prefix_cache_scorer import PrefixMatcher
from picker.plugins.prefix_spill_scorer import PrefixSpillParameters, PrefixSpillScorer

from tests.picker.unit.builders import endpoint_state, inference_request

PROMPT = "system prompt shared by everyone " * 4  # 132 chars -> 8 blocks of 16


def spill_scorer(in_flight: InFlightTracker, **parameters) -> PrefixSpillScorer:
    params = PrefixSpillParameters.model_validate({"blockSize": 16, **parameters})
    return PrefixSpillScorer(PrefixMatcher(params, None), params, in_flight)


def seed_holders(plugin: PrefixSpillScorer, *holders) -> None:
    for index, state in enumerate(holders):
        request = inference_request(PROMPT, request_id=f"seed-{index}")
        plugin.score(request, [state])
        plugin.pre_request(request, SchedulingResult({"p": ProfileResult((state,))}, "p"))


@pytest.mark.parametrize(
    ("home_metrics", "home_in_flight", "expected"),
    [
        ({"waiting_queue_size": 0}, 0, [1.0, 0.0, 0.0]),
        ({"waiting_queue_size": 2}, 0, [0.0, 0.0, 0.0]),
        ({"waiting_queue_size": 1}, 0, [1.0, 0.0, 0.0]),
        ({"kv_cache_usage_ratio": 0.96}, 0, [0.0, 0.0, 0.0]),
        ({"kv_cache_usage_ratio": 0.9}, 0, [1.0, 0.0, 0.0]),
        ({"running_requests": 2}, 8, [0.0, 0.0, 0.0]),
        ({"running_requests": 8}, 8, [1.0, 0.0, 0.0]),
    ],
    ids=[
        "cool home keeps full affinity",
        "queue at threshold withdraws affinity",
        "one queued request is not hot",
        "kv above threshold withdraws affinity",
        "busy but admitting (kv 0.9) keeps affinity",
        "burst seen only in in-flight count withdraws affinity",
        "in-flight all running is not a queue",
    ],
)
def test_home_saturation_withdraws_affinity(home_metrics, home_in_flight, expected) -> None:
    in_flight = InFlightTracker()
    for _ in range(home_in_flight):
        in_flight.increment("e0")
    plugin = spill_scorer(in_flight)
    states = [endpoint_state(0, **home_metrics), endpoint_state(1, waiting_queue_size=0), endpoint_state(2)]
    seed_holders(plugin, states[0])
    assert plugin.score(inference_request(PROMPT, request_id="q"), states) == pytest.approx(expected)


def test_spill_goes_back_to_the_replica_that_already_got_the_prefix() -> None:
    plugin = spill_scorer(InFlightTracker())
    hot_home = endpoint_state(0, waiting_queue_size=9)
    second_home = endpoint_state(1, waiting_queue_size=1)
    stranger = endpoint_state(2)
    seed_holders(plugin, hot_home, second_home)
    scores = plugin.score(inference_request(PROMPT, request_id="q"), [hot_home, second_home, stranger])
    assert scores == pytest.approx([0.0, 1.0, 0.0])


def test_everyone_saturated_keeps_plain_affinity() -> None:
    plugin = spill_scorer(InFlightTracker())
    states = [endpoint_state(0, waiting_queue_size=9), endpoint_state(1, waiting_queue_size=7)]
    seed_holders(plugin, states[0])
    assert plugin.score(inference_request(PROMPT, request_id="q"), states) == pytest.approx([1.0, 0.0])


def test_saturated_match_factor_keeps_a_share_of_affinity() -> None:
    plugin = spill_scorer(InFlightTracker(), saturatedMatchFactor=0.25)
    states = [endpoint_state(0, waiting_queue_size=9), endpoint_state(1)]
    seed_holders(plugin, states[0])
    assert plugin.score(inference_request(PROMPT, request_id="q"), states) == pytest.approx([0.25, 0.0])
