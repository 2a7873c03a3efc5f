from __future__ import annotations

import random
from collections import Counter

import pytest
from picker.plugins.max_score_picker import MaxScorePicker, create_max_score_picker
from picker.plugins.random_picker import RandomPicker
from picker.plugins.weighted_random_picker import WeightedRandomPicker
from pydantic import ValidationError

from tests.picker.unit.builders import endpoint_state, inference_request

STATES = [endpoint_state(i) for i in range(4)]


def names(picked) -> list[str]:
    return [state.endpoint.name for state in picked]


@pytest.mark.parametrize(
    ("scores", "count", "expected"),
    [
        ([0.1, 0.9, 0.5, 0.2], 1, ["e1"]),
        ([0.1, 0.9, 0.5, 0.2], 2, ["e1", "e2"]),
        ([0.1, 0.9, 0.5, 0.2], 10, ["e1", "e2", "e3", "e0"]),
    ],
    ids=["best wins", "top two in order", "more than available returns all sorted"],
)
def test_max_score_picker_orders_by_score(scores: list[float], count: int, expected: list[str]) -> None:
    picker = MaxScorePicker(random.Random(1), count)
    assert names(picker.pick(inference_request(), STATES, scores)) == expected


def test_max_score_ties_are_broken_uniformly_by_the_seeded_rng() -> None:
    picker = MaxScorePicker(random.Random(3), 1)
    wins = Counter(
        names(picker.pick(inference_request(), STATES, [1.0, 1.0, 1.0, 0.0]))[0] for _ in range(3000)
    )
    assert set(wins) == {"e0", "e1", "e2"}
    assert all(900 < count < 1100 for count in wins.values())


def test_same_seed_same_tie_breaks() -> None:
    first = MaxScorePicker(random.Random(5), 2)
    second = MaxScorePicker(random.Random(5), 2)
    draws = [names(first.pick(inference_request(), STATES, [1.0] * 4)) for _ in range(20)]
    assert draws == [names(second.pick(inference_request(), STATES, [1.0] * 4)) for _ in range(20)]


def test_max_score_top_n_is_a_full_sort_with_one_draw_per_candidate() -> None:
    """The top-n selection picks what sorting every candidate by (score desc, a draw each) picks."""
    rng = random.Random(6)
    states = [endpoint_state(i) for i in range(12)]
    for _ in range(300):
        scores = [rng.choice([0.0, 0.5, 1.0, rng.random()]) for _ in states]
        count, seed = rng.randint(1, 14), rng.randint(0, 10**6)
        picked = MaxScorePicker(random.Random(seed), count).pick(inference_request(), states, scores)
        draw = random.Random(seed).random
        if count == 1:
            continue  # one pick draws only among the tied best (tested above)
        keys = [(-score, draw()) for score in scores]
        expected = sorted(range(len(states)), key=keys.__getitem__)[:count]
        assert names(picked) == [states[index].endpoint.name for index in expected]


def test_random_picker_returns_distinct_endpoints() -> None:
    picked = RandomPicker(random.Random(0), 3).pick(inference_request(), STATES, [0.0] * 4)
    assert len(set(names(picked))) == 3


def test_weighted_random_follows_the_weights() -> None:
    picker = WeightedRandomPicker(random.Random(11), 1)
    wins = Counter(
        names(picker.pick(inference_request(), STATES, [3.0, 1.0, 0.0, 0.0]))[0] for _ in range(4000)
    )
    assert set(wins) == {"e0", "e1"}  # zero-score endpoints are never drawn while others score
    assert 0.70 < wins["e0"] / 4000 < 0.80  # expected 3/4


def test_weighted_random_with_all_zero_scores_is_uniform() -> None:
    picker = WeightedRandomPicker(random.Random(2), 1)
    wins = Counter(names(picker.pick(inference_request(), STATES, [0.0] * 4))[0] for _ in range(2000))
    assert set(wins) == {"e0", "e1", "e2", "e3"}


@pytest.mark.parametrize(
    "bad",
    [{"maxNumOfEndpoints": 0}, {"maxNumOfEndpoints": "two"}, {"max": 1}],
    ids=["zero endpoints", "not a number", "unknown key"],
)
def test_picker_parameters_are_validated(plugin_context, bad) -> None:
    with pytest.raises(ValidationError):
        create_max_score_picker("p", bad, plugin_context)


def test_weighted_random_fills_fallbacks_with_zero_scored_endpoints_last() -> None:
    picked = names(
        WeightedRandomPicker(random.Random(4), 3).pick(inference_request(), STATES, [0.0, 2.0, 0.0, 1.0])
    )
    assert set(picked[:2]) == {"e1", "e3"} and picked[2] in {"e0", "e2"}
