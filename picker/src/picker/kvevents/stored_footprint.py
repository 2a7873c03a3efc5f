"""Where new prompt content was stored recently, by the servers' own ``BlockStored`` events: per endpoint the
blocks it stored, halved every ``half_life_blocks`` stored pool-wide (``PlacementFootprint``'s measure, but
from events, so every picker process that subscribes to the same servers computes the same figures, whichever
process routed the requests).

Decay is applied lazily: each endpoint keeps its value at the pool-wide count of its last store, so a store
costs O(1) whatever the number of endpoints, and the figures depend only on the order of the events.
"""

from __future__ import annotations

import math
from collections.abc import Set


class StoredFootprint:
    def __init__(self, half_life_blocks: float) -> None:
        if half_life_blocks <= 0:
            raise ValueError(f"half_life_blocks must be > 0, got {half_life_blocks}")
        self._half_life = half_life_blocks
        self._stored_total = 0  # blocks stored pool-wide (the decay's clock)
        self._blocks: dict[str, tuple[float, int]] = {}  # endpoint -> (blocks, pool-wide total then)

    def stored(self, endpoint: str, blocks: int) -> None:
        if blocks <= 0:
            return
        self._stored_total += blocks
        self._blocks[endpoint] = (self.get(endpoint) + blocks, self._stored_total)

    def get(self, endpoint: str) -> float:
        """Blocks ``endpoint`` stored recently (decayed to now)."""
        value = self._blocks.get(endpoint)
        if value is None:
            return 0.0
        blocks, at_total = value
        return blocks * math.pow(0.5, (self._stored_total - at_total) / self._half_life)

    def forget(self, endpoint: str) -> None:
        self._blocks.pop(endpoint, None)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for name in [name for name in self._blocks if name not in live_endpoint_names]:
            del self._blocks[name]
