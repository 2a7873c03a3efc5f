"""Two deciders' PlacementSharing linked in memory, delivering at once: for plugin tests (the datagram
transport itself is tested in tests/picker/placements)."""

from __future__ import annotations

from collections.abc import Callable

from picker.framework.placement_sharing import SharedPlacement


class LinkedPlacements:
    def __init__(self) -> None:
        self.receivers: dict[str, Callable[[SharedPlacement], None]] = {}
        self.sibling: LinkedPlacements | None = None

    def publish(self, placement: SharedPlacement) -> None:
        assert self.sibling is not None
        self.sibling.receivers[placement.plugin](placement)

    def subscribe(self, plugin: str, receiver: Callable[[SharedPlacement], None]) -> None:
        self.receivers[plugin] = receiver


def linked_pair() -> tuple[LinkedPlacements, LinkedPlacements]:
    first, second = LinkedPlacements(), LinkedPlacements()
    first.sibling, second.sibling = second, first
    return first, second
