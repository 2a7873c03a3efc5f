"""Speculative entries: longest common prefix with what was routed, expiry, removals, bounds."""

from __future__ import annotations

from picker.kvevents.speculative_index import SpeculativeIndex


def test_longest_prefix_is_shared_with_the_latest_routed_request() -> None:
    index = SpeculativeIndex(ttl_s=2.0)
    index.add("a", [1, 2, 3, 4], now_s=0.0)
    index.add("b", [1, 2, 9], now_s=0.0)
    assert index.longest_prefix([1, 2, 3, 5], now_s=1.0) == {"a": 3, "b": 2}
    assert index.longest_prefix([7, 2], now_s=1.0) == {}
    index.add("a", [1, 2, 8], now_s=1.0)  # same first block: the newest request's keys replace the older
    assert index.longest_prefix([1, 2, 3], now_s=1.5) == {"a": 2, "b": 2}


def test_entries_expire_and_removals_cut_them() -> None:
    index = SpeculativeIndex(ttl_s=2.0)
    index.add("a", list(range(100)), now_s=0.0)
    index.discard("a", [40, 70])
    assert index.longest_prefix(list(range(100)), now_s=1.0) == {"a": 40}
    index.discard("a", [0])
    assert index.longest_prefix(list(range(100)), now_s=1.0) == {}
    index.add("b", [5, 6], now_s=0.0)
    assert index.longest_prefix([5, 6], now_s=2.0) == {}  # expired
    index.add("c", [8], now_s=3.0)  # adding sweeps expired entries out
    index.forget("c")
    assert index.longest_prefix([8], now_s=3.5) == {}


def test_bounded_in_entries() -> None:
    index = SpeculativeIndex(ttl_s=10.0, max_entries=2)
    for first in range(3):
        index.add("a", [first, 100], now_s=0.0)
    assert index.longest_prefix([0, 100], now_s=1.0) == {}
    assert index.longest_prefix([2, 100], now_s=1.0) == {"a": 2}
    index.prune(set())
    assert index.longest_prefix([2, 100], now_s=1.0) == {}


def test_common_prefix_is_exact_for_any_keys() -> None:
    """Chained keys take the single-key bisection; keys that repeat or agree after a difference take the
    fallback, with the same answer as a scan."""
    import random

    from picker.kvevents.speculative_index import _common_prefix

    rng = random.Random(4)
    for _ in range(5000):
        left = tuple(rng.randint(0, 2) for _ in range(rng.randint(0, 9)))
        right = tuple(rng.randint(0, 2) for _ in range(rng.randint(0, 9)))
        scan = next(
            (i for i, (a, b) in enumerate(zip(left, right, strict=False)) if a != b), min(len(left), len(right))
        )
        assert _common_prefix(left, right) == scan, (left, right)
    chained = tuple(range(1000))
    assert _common_prefix(chained, chained[:700] + (-1,) * 300) == 700
    assert _common_prefix(chained, chained[:300]) == 300
