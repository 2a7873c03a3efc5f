from __future__ import annotations

import pytest
from picker.plugins.queue_scorer import QueueScorer, create_queue_scorer
from pydantic import ValidationError

from tests.picker.unit.builders import endpoint_state, inference_request

CASES = [
    ([0, 5, 10], [1.0, 0.5, 0.0]),
    ([3, 3, 3], [1.0, 1.0, 1.0]),
    ([7], [1.0]),
    ([2, 4], [1.0, 0.0]),
]


@pytest.mark.parametrize(
    ("queues", "expected"),
    CASES,
    ids=[
        "min-max spreads shortest 1 longest 0",
        "equal queues all score 1",
        "single endpoint scores 1",
        "two endpoints",
    ],
)
def test_queue_scorer_min_max(queues: list[int], expected: list[float]) -> None:
    states = [endpoint_state(i, waiting_queue_size=q) for i, q in enumerate(queues)]
    assert QueueScorer().score(inference_request(), states) == pytest.approx(expected)


def test_missing_metrics_read_as_an_empty_queue() -> None:
    states = [endpoint_state(0), endpoint_state(1, waiting_queue_size=4)]
    assert QueueScorer().score(inference_request(), states) == [1.0, 0.0]


def test_no_candidates_no_scores() -> None:
    assert QueueScorer().score(inference_request(), []) == []


def test_factory_rejects_parameters(plugin_context) -> None:
    with pytest.raises(ValidationError):
        create_queue_scorer("q", {"threshold": 3}, plugin_context)
