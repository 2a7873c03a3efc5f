from __future__ import annotations

import pytest

from infgw.local.regions.spill_controller import SpillController

WEST, EAST = "west", "east"


def test_below_target_everything_stays_local() -> None:
    controller = SpillController([WEST, EAST], 0.6)
    for _ in range(10):
        shares = controller.update({WEST: 0.5, EAST: 0.1})
    assert shares == {WEST: 1.0, EAST: 1.0}


def test_above_target_the_local_share_falls_step_by_step_and_recovers_below_it() -> None:
    controller = SpillController([WEST, EAST], 0.6, gain=0.25)
    first = controller.update({WEST: 0.9, EAST: 0.1})[WEST]
    assert first == pytest.approx(1 - 0.25 * 0.3 / 0.6)
    second = controller.update({WEST: 0.9, EAST: 0.1})[WEST]
    assert second < first
    recovered = controller.update({WEST: 0.3, EAST: 0.1})[WEST]
    assert recovered > second


def test_nothing_more_spills_when_every_other_region_is_full() -> None:
    controller = SpillController([WEST, EAST], 0.6)
    controller.update({WEST: 0.9, EAST: 0.1})
    held = controller.shares[WEST]
    assert controller.update({WEST: 0.9, EAST: 0.7})[WEST] == held


def test_a_region_without_reports_keeps_its_share() -> None:
    controller = SpillController([WEST, EAST], 0.6)
    controller.update({WEST: 0.9, EAST: 0.1})
    held = controller.shares[WEST]
    assert controller.update({WEST: None, EAST: 0.1})[WEST] == held


def test_a_target_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="above 0"):
        SpillController([WEST], 0.0)
