from __future__ import annotations

import pytest
from picker.framework.context import NullPluginMetrics
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import ProfileResult, SchedulingResult
from picker.plugins.prefix_cache_scorer import PrefixMatcher
from picker.plugins.prefix_spill_scorer import PrefixSpillParameters, PrefixSpillScorer

from tests.picker.unit.builders import endpoint_state, inference_request

PROMPT = "system prompt shared by everyone " * 4  # 132 chars -> 8 blocks of 16


def spill_scorer(in_flight: InFlightTracker, **parameters) -> PrefixSpillScorer:
    params = PrefixSpillParameters.model_validate({"blockSize": 16, **parameters})
    return PrefixSpillScorer(PrefixMatcher(params, NullPluginMetrics()), params, in_flight)


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
        ({"running_requests": 2}, 5, [1.0, 0.0, 0.0]),
        ({"running_requests": 2}, 6, [0.0, 0.0, 0.0]),
        ({"running_requests": 2, "waiting_queue_size": 1}, 4, [0.0, 0.0, 0.0]),
        ({"running_requests": 8, "waiting_queue_size": 1}, 8, [1.0, 0.0, 0.0]),
    ],
    ids=[
        "cool home keeps full affinity",
        "queue at threshold withdraws affinity",
        "one queued request is not hot",
        "kv above threshold withdraws affinity",
        "busy but admitting (kv 0.9) keeps affinity",
        "in-flight excess under twice the threshold, server reporting no queue, is not hot",
        "in-flight excess of twice the threshold withdraws affinity without a reported queue",
        "in-flight excess on a server reporting a queue withdraws affinity at the threshold",
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


def test_everyone_saturated_alike_keeps_plain_affinity() -> None:
    plugin = spill_scorer(InFlightTracker())
    states = [endpoint_state(0, waiting_queue_size=9), endpoint_state(1, waiting_queue_size=8)]
    seed_holders(plugin, states[0])
    assert plugin.score(inference_request(PROMPT, request_id="q"), states) == pytest.approx([1.0, 0.0])


def test_every_kv_cache_full_keeps_plain_affinity() -> None:
    plugin = spill_scorer(InFlightTracker())
    states = [endpoint_state(0, kv_cache_usage_ratio=0.99), endpoint_state(1, kv_cache_usage_ratio=0.97)]
    seed_holders(plugin, states[0])
    assert plugin.score(inference_request(PROMPT, request_id="q"), states) == pytest.approx([1.0, 0.0])


def test_a_queue_the_whole_pool_shares_is_not_hot() -> None:
    in_flight = InFlightTracker()
    for name, count in (("e0", 5), ("e1", 4), ("e2", 4)):
        for _ in range(count):
            in_flight.increment(name)
    plugin = spill_scorer(in_flight)
    states = [
        endpoint_state(0, running_requests=1, waiting_queue_size=1),
        endpoint_state(1, running_requests=1, waiting_queue_size=1),
        endpoint_state(2, waiting_queue_size=1),
    ]
    seed_holders(plugin, states[0])
    # Queues 4, 3, 4: the home is 1 above the least-queued candidate, under the threshold of 2.
    assert plugin.score(inference_request(PROMPT, request_id="q"), states) == pytest.approx([1.0, 0.0, 0.0])
    for _ in range(2):
        in_flight.increment("e0")
    # Queue 6 against 3: now the home is hot relative to the pool, and affinity is withdrawn.
    assert plugin.score(inference_request(PROMPT, request_id="q2"), states) == pytest.approx([0.0, 0.0, 0.0])


def schedule(plugin: PrefixSpillScorer, prompt: str, states, request_id: str) -> tuple[list[float], str]:
    """Scores ``prompt``, sends it to the best-scoring endpoint (first on ties) and records that."""
    request = inference_request(prompt, request_id=request_id)
    scores = plugin.score(request, states)
    chosen = states[max(range(len(states)), key=lambda index: (scores[index], -index))]
    plugin.pre_request(request, SchedulingResult({"p": ProfileResult((chosen,))}, "p"))
    return scores, chosen.endpoint.name


def test_new_prefixes_spread_over_the_caches_by_footprint() -> None:
    plugin = spill_scorer(InFlightTracker())
    states = [endpoint_state(0), endpoint_state(1), endpoint_state(2)]
    contexts = [f"context number {n} " * 8 for n in range(6)]
    placed = [schedule(plugin, context, states, f"c{n}")[1] for n, context in enumerate(contexts)]
    # Each new context goes where the least new content was placed: two per endpoint, none piled up.
    assert sorted(placed) == ["e0", "e0", "e1", "e1", "e2", "e2"]
    # A repeat of a placed context follows its affinity instead.
    scores, chosen = schedule(plugin, contexts[4], states, "again")
    assert chosen == placed[4] and max(scores) == pytest.approx(1.0)


def test_cold_scores_are_a_ratio_of_footprints_scaled_by_the_weight() -> None:
    plugin = spill_scorer(InFlightTracker(), coldPlacementWeight=0.5)  # the default is 1
    states = [endpoint_state(0), endpoint_state(1)]
    schedule(plugin, PROMPT, states[:1], "seed")  # 8 new blocks on e0
    scores, chosen = schedule(plugin, "unrelated text, nothing shared " * 4, states, "new")
    total = len(plugin.matcher.match(inference_request("unrelated text, nothing shared " * 4), states).hashes)
    # e0: footprint 8 plus the request's own blocks; e1: the request's blocks only.
    assert scores == pytest.approx([0.5 * total / (8 + total), 0.5])
    assert chosen == "e1"


def test_a_partial_match_under_the_cold_threshold_counts_as_a_new_prefix() -> None:
    plugin = spill_scorer(InFlightTracker(), coldMatchThreshold=0.5)
    states = [endpoint_state(0), endpoint_state(1)]
    schedule(plugin, PROMPT, states[:1], "seed")
    # Shares the first 2 of 8 blocks with e0's prompt: 25% < 50%, so placed by footprint (e1 is empty).
    _, chosen = schedule(plugin, PROMPT[:32] + "x" * 100, states, "partial")
    assert chosen == "e1"


def test_cold_placement_weight_zero_leaves_new_prefixes_to_the_other_scorers() -> None:
    plugin = spill_scorer(InFlightTracker(), coldPlacementWeight=0.0)
    states = [endpoint_state(0), endpoint_state(1)]
    schedule(plugin, PROMPT, states[:1], "seed")
    assert plugin.score(inference_request("unrelated " * 10, request_id="q"), states) == [0.0, 0.0]


def test_footprint_halves_after_its_half_life_and_departed_endpoints_are_forgotten() -> None:
    plugin = spill_scorer(InFlightTracker(), footprintHalfLifeBlocks=8)
    e0, e1 = endpoint_state(0), endpoint_state(1)
    schedule(plugin, PROMPT, [e0], "first")
    assert plugin.footprint("e0") == pytest.approx(8)
    schedule(plugin, "another prompt " * 9, [e1], "second")  # 135 chars: 8 new blocks
    assert plugin.footprint("e0") == pytest.approx(4) and plugin.footprint("e1") == pytest.approx(8)
    # A request that hits its holder fully places nothing new and decays nothing.
    schedule(plugin, PROMPT, [e0], "repeat")
    assert plugin.footprint("e0") == pytest.approx(4)
    plugin.prune({"e1"})
    assert plugin.footprint("e0") == 0.0 and plugin.footprint("e1") == pytest.approx(8)


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"coldPlacementWeight|cold_placement_weight"):
        PrefixSpillParameters.model_validate({"coldPlacementWeight": 2})
    with pytest.raises(ValueError, match=r"footprintHalfLifeBlocks|footprint_half_life_blocks"):
        PrefixSpillParameters.model_validate({"footprintHalfLifeBlocks": 0})


def test_saturated_match_factor_keeps_a_share_of_affinity() -> None:
    plugin = spill_scorer(InFlightTracker(), saturatedMatchFactor=0.25)
    states = [endpoint_state(0, waiting_queue_size=9), endpoint_state(1)]
    seed_holders(plugin, states[0])
    assert plugin.score(inference_request(PROMPT, request_id="q"), states) == pytest.approx([0.25, 0.0])
