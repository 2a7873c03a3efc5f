"""Where each prefix lives: its *home* endpoint, told apart from overflow copies of it elsewhere.

A request sent away from the endpoint that holds its prefix (the ``spill`` rule, or a holder without free KV
blocks) leaves a copy where it went, which the server's KV events report like any other blocks. Matched on
the events alone, the group's next request then finds its longest run on the copy (the copy holds the latest
turn) and follows it: the group splits over two replicas. The home table remembers, per block key of the
placements that made a home, the endpoint they went to; a placement on another endpoint while the home
still holds the prefix is an overflow and changes nothing. Once the home no longer holds it (evicted there,
by the events), the next placement makes a new home.

Keys are chained (a key stands for its whole prefix), so the home of a request is the entry of the deepest of
its keys in the table, counted only when at least ``min_blocks`` deep (unrelated chat prompts share the
template's first blocks). Every decider applies every placement, its own and its siblings' (shared
placements), against the same KV events, so they agree on the homes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence, Set


class PrefixHomes:
    def __init__(self, max_keys: int) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self._max_keys = max_keys
        self._home: OrderedDict[int, str] = OrderedDict()  # block key -> home endpoint, least recent first

    def home(self, keys: Sequence[int], min_blocks: int) -> tuple[str, int] | None:
        """The home of the deepest of ``keys`` in the table and that depth (in blocks), when it is at least
        ``min_blocks`` (and at least 1) deep; else None."""
        table = self._home
        for depth in range(len(keys), max(min_blocks, 1) - 1, -1):
            endpoint = table.get(keys[depth - 1])
            if endpoint is not None:
                return endpoint, depth
        return None

    def place(self, endpoint: str, keys: Sequence[int]) -> None:
        """``keys`` (a request's chain) now live on ``endpoint``: it is their home."""
        table = self._home
        for key in keys:
            table[key] = endpoint
            table.move_to_end(key)
        while len(table) > self._max_keys:
            table.popitem(last=False)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for key in [key for key, endpoint in self._home.items() if endpoint not in live_endpoint_names]:
            del self._home[key]

    def size(self) -> int:
        return len(self._home)
