"""Approximate prefix-cache index: which endpoint probably holds which prompt block in its KV cache.

Built from routing history only (no feedback from the model server): a per-endpoint LRU of block hashes
plus a reverse index hash -> endpoints, kept consistent on eviction and on endpoint departure.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence, Set


class PrefixIndex:
    """LRU per endpoint (``capacity_per_endpoint`` hashes) with a reverse map for O(blocks) matching."""

    def __init__(self, capacity_per_endpoint: int) -> None:
        if capacity_per_endpoint < 1:
            raise ValueError("capacity_per_endpoint must be >= 1")
        self._capacity = capacity_per_endpoint
        self._lru_by_endpoint: dict[str, OrderedDict[int, None]] = {}
        self._endpoints_by_hash: dict[int, set[str]] = {}

    def match(self, hashes: Sequence[int]) -> dict[str, int]:
        """Matched block count per endpoint, walking the chain until no endpoint holds a block (EPP greedy)."""
        matched: dict[str, int] = {}
        lookup = self._endpoints_by_hash.get
        # Blocks of one prefix were recorded together, so long stretches of the chain have the same holders:
        # count runs of equal holder sets (a C-level comparison) instead of touching every holder per block.
        run_holders: set[str] | None = None
        run_length = 0
        for block_hash in hashes:
            holders = lookup(block_hash)
            if not holders:
                break
            if holders == run_holders:
                run_length += 1
                continue
            if run_holders:
                for endpoint_name in run_holders:
                    matched[endpoint_name] = matched.get(endpoint_name, 0) + run_length
            run_holders, run_length = holders, 1
        if run_holders:
            for endpoint_name in run_holders:
                matched[endpoint_name] = matched.get(endpoint_name, 0) + run_length
        return matched

    def add(self, endpoint_name: str, hashes: Iterable[int]) -> None:
        """Record that ``endpoint_name`` now holds these blocks (most recently used)."""
        lru = self._lru_by_endpoint.get(endpoint_name)
        if lru is None:
            lru = self._lru_by_endpoint[endpoint_name] = OrderedDict()
        for block_hash in hashes:
            if block_hash in lru:
                lru.move_to_end(block_hash)
                continue
            lru[block_hash] = None
            self._endpoints_by_hash.setdefault(block_hash, set()).add(endpoint_name)
            if len(lru) > self._capacity:
                evicted, _ = lru.popitem(last=False)
                self._forget(evicted, endpoint_name)

    def prune(self, live_endpoint_names: Set[str]) -> list[str]:
        """Drop every endpoint not in ``live_endpoint_names``; returns the names dropped."""
        departed = [name for name in self._lru_by_endpoint if name not in live_endpoint_names]
        for endpoint_name in departed:
            for block_hash in self._lru_by_endpoint.pop(endpoint_name):
                self._forget(block_hash, endpoint_name)
        return departed

    def size(self) -> int:
        """Total LRU entries over all endpoints (``inference_extension_prefix_indexer_size``)."""
        return sum(len(lru) for lru in self._lru_by_endpoint.values())

    def endpoints(self) -> list[str]:
        return list(self._lru_by_endpoint)

    def _forget(self, block_hash: int, endpoint_name: str) -> None:
        holders = self._endpoints_by_hash.get(block_hash)
        if holders is not None:
            holders.discard(endpoint_name)
            if not holders:
                del self._endpoints_by_hash[block_hash]
