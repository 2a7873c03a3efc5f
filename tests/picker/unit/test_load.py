"""framework.load.hot_endpoints: the spill rule's saturation test, against its formula."""

from __future__ import annotations

import random

from picker.framework.in_flight import InFlightTracker
from picker.framework.load import fresh_queue_estimate, hot_endpoints, metrics_of

from tests.picker.unit.builders import endpoint_state


def test_hot_endpoints_follow_the_formula() -> None:
    rng = random.Random(8)
    for _ in range(300):
        states = [
            endpoint_state(i)
            if rng.random() < 0.2
            else endpoint_state(
                i,
                waiting_queue_size=rng.randint(0, 6),
                running_requests=rng.randint(0, 6),
                kv_cache_usage_ratio=rng.choice([0.1, 0.5, 0.95, 1.0]),
            )
            for i in range(rng.randint(1, 8))
        ]
        in_flight = InFlightTracker()
        for state in states:
            for _ in range(rng.randint(0, 8)):
                in_flight.increment(state.endpoint.name)
        queue_threshold, kv_threshold = rng.randint(1, 4), rng.choice([0.8, 0.95])
        queued = [fresh_queue_estimate(metrics_of(s), in_flight.count(s.endpoint.name)) for s in states]
        expected = []
        for state, queue in zip(states, queued, strict=True):
            metrics = metrics_of(state)
            threshold = queue_threshold * (1 if metrics.waiting_queue_size > 0 else 2)
            expected.append(
                min(queue, queue - min(queued)) >= threshold or metrics.kv_cache_usage_ratio >= kv_threshold
            )
        assert hot_endpoints(states, in_flight, queue_threshold, kv_threshold) == expected


def test_no_candidates_none_hot() -> None:
    assert hot_endpoints([], InFlightTracker(), 2, 0.9) == []
