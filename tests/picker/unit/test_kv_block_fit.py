from __future__ import annotations

import pytest
from picker.plugins.kv_block_fit import KVBlockFit, KVBlockFitParameters

from tests.picker.unit.builders import endpoint_state


def fit(output_blocks: int = 2) -> KVBlockFit:
    return KVBlockFit(KVBlockFitParameters.model_validate({"outputBlocks": output_blocks}))


def test_free_blocks_are_the_scraped_free_share_less_placements_since() -> None:
    rule = fit()
    rule.add("e0", 10, now_s=5.0)  # before the scrape at 6 s: in its usage already
    rule.add("e0", 7, now_s=7.0)  # after it: 7 new + 2 output blocks
    state = endpoint_state(0, num_gpu_blocks=600, kv_cache_usage_ratio=0.25, updated_at_s=6.0)
    assert rule.free_blocks(state) == pytest.approx(600 * 0.75 - 9)
    assert rule.fits([state], [432]) == [True]  # 432 + 2 <= 441
    assert rule.fits([state], [440]) == [False]


def test_without_a_block_count_or_a_scrape_an_endpoint_is_not_judged() -> None:
    rule = fit()
    assert rule.free_blocks(endpoint_state(0)) is None
    assert rule.fits([endpoint_state(0, kv_cache_usage_ratio=0.99)], [1]) == [None]


def test_a_departed_endpoints_placements_are_dropped() -> None:
    rule = fit(output_blocks=0)
    rule.add("e0", 50, now_s=1.0)
    rule.prune({"e1"})
    state = endpoint_state(0, num_gpu_blocks=100, updated_at_s=0.0)
    assert rule.free_blocks(state) == 100.0


def test_output_blocks_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="outputBlocks"):
        KVBlockFitParameters.model_validate({"outputBlocks": -1})


@pytest.mark.parametrize(
    ("max_destination_requests", "expected"),
    [(0, [1.0, 0.0, 0.0]), (1, [0.0, 0.0, 1.0]), (None, [0.0, 1.0, 1.0])],
    ids=["idle only", "one request", "any it fits"],
)
def test_affinity_moves_only_to_a_destination(
    max_destination_requests: int | None, expected: list[float]
) -> None:
    """e0 (the favourite) lacks the blocks; e1 fits them with 2 requests running, e2 with 1 placed since its
    scrape. With no destination the favourite keeps its affinity."""
    rule = KVBlockFit(KVBlockFitParameters(max_destination_requests=max_destination_requests))
    rule.add("e2", 10, now_s=2.0)
    states = [
        endpoint_state(0, num_gpu_blocks=100, kv_cache_usage_ratio=0.95, updated_at_s=1.0),
        endpoint_state(1, num_gpu_blocks=100, running_requests=2, updated_at_s=1.0),
        endpoint_state(2, num_gpu_blocks=100, updated_at_s=1.0),
    ]
    assert rule.yield_affinity([1.0, 0.0, 0.0], states, [20, 20, 20]) == expected
