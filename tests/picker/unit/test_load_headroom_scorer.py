from __future__ import annotations

import pytest
from picker.framework.in_flight import InFlightTracker
from picker.plugins.load_headroom_scorer import LoadHeadroomParameters, LoadHeadroomScorer

from tests.picker.unit.builders import endpoint_state, inference_request


@pytest.mark.parametrize(
    ("metrics", "in_flight", "expected"),
    [
        ({}, 0, 1.0),
        ({"running_requests": 8}, 0, 0.5),
        ({"waiting_queue_size": 4}, 0, 0.5),
        ({"running_requests": 4, "waiting_queue_size": 2}, 0, 0.5),
        ({"kv_cache_usage_ratio": 0.5}, 0, 1.0),
        ({"kv_cache_usage_ratio": 0.9}, 0, 0.5),
        ({"kv_cache_usage_ratio": 1.0}, 0, 0.0),
        ({}, 4, 0.5),
        ({"running_requests": 4}, 4, 8 / 12),
        ({"waiting_queue_size": 6}, 2, 8 / 20),
    ],
    ids=[
        "idle endpoint scores 1",
        "busyScale running halves the score",
        "a queued request costs two running ones",
        "running and queued add up",
        "KV below the threshold does not rank (it is as stale as the queue)",
        "KV halfway from threshold to full halves the score",
        "full KV cache scores 0",
        "unscraped burst counted from in-flight",
        "in-flight already running is not queued",
        "scraped queue larger than in-flight wins",
    ],
)
def test_load_headroom_formula(metrics: dict, in_flight: int, expected: float) -> None:
    tracker = InFlightTracker()
    for _ in range(in_flight):
        tracker.increment("e0")
    scorer = LoadHeadroomScorer(LoadHeadroomParameters(), tracker)
    assert scorer.score(inference_request(), [endpoint_state(0, **metrics)]) == [pytest.approx(expected)]


def test_small_differences_move_the_score_little_unlike_min_max() -> None:
    scorer = LoadHeadroomScorer(LoadHeadroomParameters(), InFlightTracker())
    ten, eleven = scorer.score(
        inference_request(), [endpoint_state(0, running_requests=10), endpoint_state(1, running_requests=11)]
    )
    assert 0 < ten - eleven < 0.03


def test_kv_threshold_is_configurable() -> None:
    scorer = LoadHeadroomScorer(LoadHeadroomParameters(kv_headroom_threshold=0.0), InFlightTracker())
    assert scorer.score(inference_request(), [endpoint_state(0, kv_cache_usage_ratio=0.25)]) == [
        pytest.approx(0.75)
    ]
