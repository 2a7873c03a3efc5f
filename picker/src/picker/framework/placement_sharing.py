"""Placements shared between deciders: the contract between plugins and the transport that carries them.

Several processes routing for one pool (``--workers``, active-active replicas) each see the servers' KV events
alike, but each keeps to itself where *it* just sent a request: speculative entries (blocks expected on an
endpoint before its ``BlockStored`` arrives), routing history and the placement footprint. A plugin that keeps
such state publishes each placement here, and applies the placements its siblings publish, so every decider
knows within about a millisecond what the others placed. A transport (picker.placements) delivers what is
published to every sibling's plugin of the same name; best effort: a placement that cannot be delivered is
counted and dropped, never waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SharedPlacement:
    """``plugin`` (the plugin's name in the config, alike in every sibling) sent a request to ``endpoint``:
    the block keys its server will store it under (a chain: a prefix of it is a valid placement too), and
    how many of them the endpoint did not hold by that plugin's view (the new content it brought)."""

    plugin: str
    endpoint: str
    keys: Sequence[int]
    new_blocks: int


PlacementReceiver = Callable[[SharedPlacement], None]


class PlacementSharing(Protocol):
    def publish(self, placement: SharedPlacement) -> None:
        """Hand a placement to every sibling; returns at once (no I/O wait on the request path)."""
        ...

    def subscribe(self, plugin: str, receiver: PlacementReceiver) -> None:
        """Siblings' placements published under ``plugin`` are passed to ``receiver`` (on the event loop)."""
        ...


class NoPlacementSharing:
    """A decider alone: nothing to share with (one process, or sharing off)."""

    def publish(self, placement: SharedPlacement) -> None:
        pass

    def subscribe(self, plugin: str, receiver: PlacementReceiver) -> None:
        pass
