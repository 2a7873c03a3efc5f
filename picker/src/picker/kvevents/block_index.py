"""Which endpoints hold which prompt blocks, built from their KV events (no guessing from routing history).

Keys are the picker's own (``BlockKeyHasher``), computed from each ``BlockStored``'s token ids and chained
from the parent block's key, so the server's hash function need not be reproduced. Per endpoint, a map from
the server's block hash to the picker keys it covers lets ``BlockRemoved`` (which only names server hashes)
and later stores that name a parent find their keys. Bounded: at most ``max_keys`` keys (least recently
stored dropped first) and ``max_endpoints_per_key`` holders per key.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Sequence, Set

from picker.framework.kv_events import BlockRemoved, BlockStored
from picker.kvevents.block_keys import BlockKeyHasher


class StoreOutcome(enum.Enum):
    STORED = "stored"
    UNKNOWN_PARENT = "unknown_parent"  # the parent block was never seen (missed events): skipped
    BLOCK_SIZE_MISMATCH = "block_size_mismatch"  # server blocks not a multiple of the picker's
    BAD_TOKEN_ID = "bad_token_id"


class KVBlockIndex:
    def __init__(self, hasher: BlockKeyHasher, max_keys: int, max_endpoints_per_key: int) -> None:
        if max_keys < 1 or max_endpoints_per_key < 1:
            raise ValueError("max_keys and max_endpoints_per_key must be >= 1")
        self.hasher = hasher
        self._max_keys = max_keys
        self._max_holders = max_endpoints_per_key
        self._holders: OrderedDict[int, set[str]] = OrderedDict()
        self._keys_by_server_hash: dict[str, dict[int, tuple[int, ...]]] = {}
        self.adapter_names: set[str] = set()  # every lora_name ever stored (lookups skip unknown adapters)

    # -- updates ----------------------------------------------------------------------------------
    def store(self, endpoint: str, event: BlockStored) -> StoreOutcome:
        size = self.hasher.block_size
        if event.block_size % size:
            return StoreOutcome.BLOCK_SIZE_MISMATCH
        known = self._keys_by_server_hash.setdefault(endpoint, {})
        if event.lora_name:
            self.adapter_names.add(event.lora_name)
        if event.parent_block_hash is None:
            parent = self.hasher.root(event.lora_name, event.cache_salt)
        else:
            parent_keys = known.get(event.parent_block_hash)
            if not parent_keys:
                return StoreOutcome.UNKNOWN_PARENT
            parent = parent_keys[-1]
        try:
            keys = self.hasher.chain(parent, event.token_ids)
        except OverflowError:
            return StoreOutcome.BAD_TOKEN_ID
        per_block = event.block_size // size
        for index, server_hash in enumerate(event.block_hashes):
            block_keys = tuple(keys[index * per_block : (index + 1) * per_block])
            previous = known.pop(server_hash, None)
            if previous is not None and previous != block_keys:
                self._drop_keys(endpoint, previous)
            known[server_hash] = block_keys
            for key in block_keys:
                self._add_holder(key, endpoint)
        while len(known) > self._max_keys:
            self._drop_keys(endpoint, known.pop(next(iter(known))))
        return StoreOutcome.STORED

    def remove(self, endpoint: str, event: BlockRemoved) -> list[int]:
        """Drop the removed blocks; returns the picker keys they covered."""
        known = self._keys_by_server_hash.get(endpoint)
        if not known:
            return []
        removed: list[int] = []
        for server_hash in event.block_hashes:
            keys = known.pop(server_hash, None)
            if keys is not None:
                self._drop_keys(endpoint, keys)
                removed.extend(keys)
        return removed

    def clear(self, endpoint: str) -> None:
        """Forget everything ``endpoint`` holds (restart, AllBlocksCleared, publisher gone)."""
        known = self._keys_by_server_hash.pop(endpoint, None)
        if known:
            for keys in known.values():
                self._drop_keys(endpoint, keys)

    def prune(self, live_endpoints: Set[str]) -> list[str]:
        departed = [name for name in self._keys_by_server_hash if name not in live_endpoints]
        for name in departed:
            self.clear(name)
        return departed

    # -- reads ------------------------------------------------------------------------------------
    def longest_prefix(self, keys: Sequence[int]) -> dict[str, int]:
        """Per endpoint, how many of ``keys`` it holds consecutively from the first."""
        matched: dict[str, int] = {}
        holders = self._holders
        first = holders.get(keys[0]) if keys else None
        if not first:
            return matched
        active = set(first)
        index = 1
        for index in range(1, len(keys)):
            current = holders.get(keys[index])
            if current is None:
                break
            if active <= current:
                continue
            remaining = active & current
            for endpoint in active - remaining:
                matched[endpoint] = index
            active = remaining
            if not active:
                break
        else:
            index = len(keys)
        for endpoint in active:
            matched[endpoint] = index
        return matched

    def size(self) -> int:
        return len(self._holders)

    def blocks_held(self, endpoint: str) -> int:
        return len(self._keys_by_server_hash.get(endpoint, ()))

    # -- internals --------------------------------------------------------------------------------
    def _add_holder(self, key: int, endpoint: str) -> None:
        holders = self._holders.get(key)
        if holders is None:
            self._holders[key] = {endpoint}
            if len(self._holders) > self._max_keys:
                self._holders.popitem(last=False)
            return
        self._holders.move_to_end(key)
        if len(holders) < self._max_holders:
            holders.add(endpoint)

    def _drop_keys(self, endpoint: str, keys: tuple[int, ...]) -> None:
        for key in keys:
            holders = self._holders.get(key)
            if holders is not None:
                holders.discard(endpoint)
                if not holders:
                    del self._holders[key]
