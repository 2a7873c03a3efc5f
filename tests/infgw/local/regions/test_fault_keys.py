"""The status view's fault keys: a digit selects a region, r/p/h toggle its replicas/picker/health
checks against what is down now; key presses are read from a terminal (a pty here) without Enter."""

from __future__ import annotations

import asyncio
import os
import termios

from infgw.local.regions.fault_keys import FaultAction, FaultKeys, terminal_keys
from infgw.local.regions.gateway import RegionPart

WEST, EAST = "europe-west3", "us-east4"


def test_keys_take_the_selected_regions_part_down_then_up() -> None:
    keys = FaultKeys([WEST, EAST])
    assert keys.press("h", {}) == FaultAction(WEST, RegionPart.HEALTH, down=True)
    assert keys.press("2", {}) is None and keys.selected == EAST
    assert keys.press("r", {EAST: ()}) == FaultAction(EAST, RegionPart.REPLICAS, down=True)
    assert keys.press("R", {EAST: ("replicas",)}) == FaultAction(EAST, RegionPart.REPLICAS, down=False)
    assert keys.press("p", {WEST: ("picker",)}) == FaultAction(EAST, RegionPart.PICKER, down=True)


def test_unbound_keys_and_regions_out_of_range_do_nothing() -> None:
    keys = FaultKeys([WEST, EAST])
    assert keys.press("x", {}) is None
    assert keys.press("3", {}) is None and keys.selected == WEST
    assert keys.press("0", {}) is None and keys.selected == WEST
    assert "1 europe-west3, 2 us-east4" in keys.help()


async def test_terminal_keys_reads_single_presses_and_restores_the_terminal() -> None:
    controller, terminal = os.openpty()
    try:
        before = termios.tcgetattr(terminal)
        with terminal_keys(terminal) as keys:
            assert keys is not None
            assert not termios.tcgetattr(terminal)[3] & termios.ICANON  # no Enter needed
            os.write(controller, b"2h")
            pressed = [await asyncio.wait_for(keys.get(), 5), await asyncio.wait_for(keys.get(), 5)]
        assert pressed == ["2", "h"]
        assert termios.tcgetattr(terminal) == before
    finally:
        os.close(controller)
        os.close(terminal)


async def test_no_terminal_no_keys() -> None:
    read, write = os.pipe()
    try:
        with terminal_keys(read) as keys:
            assert keys is None
    finally:
        os.close(read)
        os.close(write)
