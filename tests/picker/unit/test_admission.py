from __future__ import annotations

import pytest
from picker.admission import AdmissionController, SaturationDetector, is_sheddable
from picker.config.model import SaturationDetectorConfig
from picker.errors import PickerError
from picker.framework.clock import FakeClock

from tests.picker.unit.builders import endpoint_state, inference_request

NOW = 1000.0


def detector(**config) -> SaturationDetector:
    return SaturationDetector(SaturationDetectorConfig(**config), FakeClock(start_s=NOW))


@pytest.mark.parametrize(
    ("metrics", "has_capacity"),
    [
        ({"waiting_queue_size": 5, "kv_cache_usage_ratio": 0.8, "updated_at_s": NOW}, True),
        ({"waiting_queue_size": 6, "updated_at_s": NOW}, False),
        ({"kv_cache_usage_ratio": 0.81, "updated_at_s": NOW}, False),
        ({"updated_at_s": NOW - 0.19}, True),
        ({"updated_at_s": NOW - 0.201}, False),
        (None, False),
    ],
    ids=[
        "at both thresholds still has capacity",
        "queue above threshold",
        "kv above threshold",
        "just inside the staleness limit",
        "stale metrics count as no capacity",
        "never scraped counts as no capacity",
    ],
)
def test_capacity_rule(metrics: dict | None, has_capacity: bool) -> None:
    state = endpoint_state(0) if metrics is None else endpoint_state(0, **metrics)
    assert detector().has_capacity(state) is has_capacity


def test_pool_is_saturated_only_when_no_candidate_has_capacity() -> None:
    busy = endpoint_state(0, waiting_queue_size=9, updated_at_s=NOW)
    free = endpoint_state(1, waiting_queue_size=0, updated_at_s=NOW)
    assert detector().is_saturated([busy])
    assert not detector().is_saturated([busy, free])
    assert detector().is_saturated([])


def test_thresholds_are_configurable() -> None:
    state = endpoint_state(0, waiting_queue_size=9, updated_at_s=NOW)
    assert detector(queue_depth_threshold=10).has_capacity(state)


@pytest.mark.parametrize(
    ("priority", "saturated", "rejected"),
    [(-1, True, True), (-1, False, False), (0, True, False), (5, True, False)],
    ids=[
        "sheddable under saturation is shed",
        "sheddable with capacity passes",
        "priority 0 never shed",
        "critical never shed",
    ],
)
def test_shedding(priority: int, saturated: bool, rejected: bool) -> None:
    queue = 9 if saturated else 0
    candidates = [endpoint_state(0, waiting_queue_size=queue, updated_at_s=NOW)]
    admission = AdmissionController(detector())
    request = inference_request(priority=priority)
    if rejected:
        with pytest.raises(PickerError) as raised:
            admission.admit(request, candidates)
        assert raised.value.http_status == 429
        assert "sheddable" in raised.value.message
    else:
        admission.admit(request, candidates)
    assert is_sheddable(priority) is (priority < 0)
