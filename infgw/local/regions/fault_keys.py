"""Faults from the regional status view's keyboard: a digit selects a region, ``r`` / ``p`` / ``h`` take
its replicas / picker / health checks down, or bring them up again if they are down.

:func:`terminal_keys` reads single key presses from a terminal (cbreak mode: no Enter needed, Ctrl-C
still interrupts) without blocking the event loop; on anything but a terminal it reads nothing and the
view points at ``infgw region down|up`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from infgw.local.regions.gateway import RegionalGateway, RegionPart

PART_KEYS: Mapping[str, RegionPart] = {
    "r": RegionPart.REPLICAS,
    "p": RegionPart.PICKER,
    "h": RegionPart.HEALTH,
}


@dataclass(frozen=True)
class FaultAction:
    region: str
    part: RegionPart
    down: bool  # True: take it down; False: bring it up


async def apply_fault(gateway: RegionalGateway, action: FaultAction) -> str:
    """Take the part down or bring it up; what was done, for the view."""
    await gateway.set_down(action.region, action.part, down=action.down)
    return f"{action.region}: {action.part.value} {'down' if action.down else 'up'}"


class FaultKeys:
    """Turns key presses into faults for the selected region (the first one until a digit selects)."""

    def __init__(self, regions: Sequence[str]) -> None:
        if not regions:
            raise ValueError("FaultKeys needs at least one region")
        self.regions = tuple(regions)
        self.selected = self.regions[0]

    def press(self, key: str, down: Mapping[str, Sequence[str]]) -> FaultAction | None:
        """The fault ``key`` asks for, given each region's parts that are ``down`` now; None for a
        selection or an unbound key."""
        key = key.lower()
        if key.isdigit() and 1 <= int(key) <= len(self.regions):
            self.selected = self.regions[int(key) - 1]
            return None
        part = PART_KEYS.get(key)
        if part is None:
            return None
        return FaultAction(self.selected, part, down=part.value not in down.get(self.selected, ()))

    def help(self) -> str:
        regions = ", ".join(f"{index} {region}" for index, region in enumerate(self.regions, 1))
        return (
            f"keys: {regions} selects (now {self.selected}); r replicas, p picker, h health checks: "
            "down, or up again if down"
        )


@contextlib.contextmanager
def terminal_keys(fd: int) -> Iterator[asyncio.Queue[str] | None]:
    """Key presses on the terminal ``fd`` as a queue (None when ``fd`` is not a terminal); the
    terminal's mode is restored on exit."""
    if not os.isatty(fd):
        yield None
        return
    loop = asyncio.get_running_loop()
    keys: asyncio.Queue[str] = asyncio.Queue()

    def on_readable() -> None:
        for key in os.read(fd, 64).decode(errors="replace"):
            keys.put_nowait(key)

    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    loop.add_reader(fd, on_readable)
    try:
        yield keys
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
