"""Rendezvous cold placement: a function of the key, the candidates and the shared footprints only."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from picker.plugins.rendezvous_placement import RendezvousPlacement, first_unheld_block

NAMES = ["e0", "e1", "e2", "e3"]
LEVEL = [0.0] * 4
COOL = [False] * 4


def random_keys(seed: int, count: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.getrandbits(64) for _ in range(count)]


def chosen(placement: RendezvousPlacement, key: int, names=NAMES, recent=LEVEL, blocks=8, hot=COOL) -> str:
    return names[placement.choose(key, names, recent, blocks, hot)]


def test_two_instances_agree_whatever_the_candidate_order() -> None:
    keys = random_keys(3, 200)
    reordered = ["e2", "e0", "e3", "e1"]
    for key in keys:
        assert chosen(RendezvousPlacement(), key) == chosen(RendezvousPlacement(), key, reordered)


def test_keys_spread_over_the_endpoints() -> None:
    placement = RendezvousPlacement()
    counts = Counter(chosen(placement, key) for key in random_keys(5, 2000))
    assert set(counts) == set(NAMES)
    assert all(350 <= count <= 650 for count in counts.values()), counts


def test_removing_an_endpoint_moves_only_its_keys() -> None:
    placement = RendezvousPlacement()
    keys = random_keys(7, 500)
    before = {key: chosen(placement, key) for key in keys}
    after = {key: chosen(placement, key, NAMES[:3], LEVEL[:3], 8, COOL[:3]) for key in keys}
    moved = [key for key in keys if before[key] != after[key]]
    assert moved and all(before[key] == "e3" for key in moved)


def test_a_hot_endpoint_is_skipped_for_the_next_in_the_keys_order() -> None:
    placement = RendezvousPlacement()
    key = 12345
    first = chosen(placement, key)
    hot = [name == first for name in NAMES]
    second = chosen(placement, key, hot=hot)
    assert second != first
    # The next in order is the winner once the first is gone from the candidates.
    rest = [name for name in NAMES if name != first]
    assert second == chosen(placement, key, rest, LEVEL[:3], 8, COOL[:3])
    # Every endpoint hot: nobody is vetoed.
    assert chosen(placement, key, hot=[True] * 4) == first


def test_endpoints_far_above_the_lightest_footprint_are_skipped() -> None:
    placement = RendezvousPlacement()
    key = 99
    first = chosen(placement, key)
    heavy = [100.0 if name == first else 10.0 for name in NAMES]
    assert chosen(placement, key, recent=heavy, blocks=8) != first  # 100 > 10 + 8 / 2
    within = [14.0 if name == first else 10.0 for name in NAMES]
    assert chosen(placement, key, recent=within, blocks=8) == first  # 14 <= 10 + 8 / 2


def test_no_candidates_is_an_error() -> None:
    with pytest.raises(ValueError, match="no candidates"):
        RendezvousPlacement().choose(7, [], [], 8, [])


def test_the_placement_key_is_the_first_block_nobody_holds() -> None:
    assert first_unheld_block([11, 12, 13], 0) == 11
    assert first_unheld_block([11, 12, 13], 2) == 13
    assert first_unheld_block([11, 12, 13], 3) == 13  # every block held: the last one
    with pytest.raises(ValueError, match="without blocks"):
        first_unheld_block([], 0)
