from __future__ import annotations

import pytest
from picker.plugins.kv_cache_utilization_scorer import KvCacheUtilizationScorer

from tests.picker.unit.builders import endpoint_state, inference_request


@pytest.mark.parametrize(
    ("usage", "expected"),
    [(0.0, 1.0), (0.25, 0.75), (1.0, 0.0), (None, 1.0)],
    ids=["empty cache scores 1", "quarter used", "full cache scores 0", "no metrics yet scores as empty"],
)
def test_kv_scorer_is_one_minus_usage(usage: float | None, expected: float) -> None:
    state = endpoint_state(0) if usage is None else endpoint_state(0, kv_cache_usage_ratio=usage)
    assert KvCacheUtilizationScorer().score(inference_request(), [state]) == [pytest.approx(expected)]
