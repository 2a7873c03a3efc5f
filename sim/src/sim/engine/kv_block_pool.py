"""The KV cache as a pool of fixed-size blocks, with vLLM-style automatic prefix caching."""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sim.engine.kv_cache_events import AllBlocksCleared, BlocksRemoved, KVCacheEventSink


@dataclass(slots=True, eq=False)
class KVBlock:
    block_id: int
    ref_count: int = 0
    block_hash: bytes | None = None


def chain_block_hashes(
    token_ids: Sequence[int], block_size: int, extra_key: str | None = None
) -> list[bytes]:
    """Hash every full block of ``token_ids``, each hash covering its parent's hash (a prefix chain)."""
    hashes: list[bytes] = []
    parent = (extra_key or "").encode("utf-8")
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        digest = hashlib.blake2b(parent, digest_size=16)
        digest.update(array("I", token_ids[start : start + block_size]).tobytes())
        parent = digest.digest()
        hashes.append(parent)
    return hashes


class KVBlockPool:
    """Fixed pool of blocks, with cached full blocks identified by hash-chained prefixes.

    Equal hashes mean equal prefixes. A block whose last user finishes keeps its hash in the free queue and
    can be hit again until it is reused. Free blocks are taken in this order: freed blocks holding nothing
    reusable, then never-used blocks (created lazily, so a huge pool costs nothing), then cached blocks,
    least recently freed first (evicting their cached prefix).
    """

    def __init__(
        self,
        num_blocks: int,
        block_size: int,
        enable_prefix_caching: bool = True,
        event_sink: KVCacheEventSink | None = None,
    ) -> None:
        if num_blocks <= 0 or block_size <= 0:
            raise ValueError(f"num_blocks ({num_blocks}) and block_size ({block_size}) must be positive")
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.enable_prefix_caching = enable_prefix_caching
        self._free_plain: list[KVBlock] = []
        self._next_fresh_id = 0
        self._free_cached: OrderedDict[int, KVBlock] = OrderedDict()
        self._cached: dict[bytes, KVBlock] = {}
        self.evictions = 0
        self._event_sink = event_sink

    @property
    def num_free_blocks(self) -> int:
        return len(self._free_plain) + (self.num_blocks - self._next_fresh_id) + len(self._free_cached)

    @property
    def num_used_blocks(self) -> int:
        return self.num_blocks - self.num_free_blocks

    @property
    def num_cached_blocks(self) -> int:
        return len(self._cached)

    def usage(self) -> float:
        return self.num_used_blocks / self.num_blocks

    def longest_cached_prefix(self, block_hashes: Sequence[bytes]) -> list[KVBlock]:
        if not self.enable_prefix_caching:
            return []
        hits: list[KVBlock] = []
        for block_hash in block_hashes:
            block = self._cached.get(block_hash)
            if block is None:
                break
            hits.append(block)
        return hits

    def free_blocks_among(self, blocks: Sequence[KVBlock]) -> int:
        """How many of ``blocks`` sit in the free queue (taking them uses up free capacity)."""
        return sum(1 for block in blocks if block.ref_count == 0)

    def acquire(self, blocks: Sequence[KVBlock]) -> None:
        for block in blocks:
            if block.ref_count == 0:
                del self._free_cached[block.block_id]
            block.ref_count += 1

    def allocate(self, count: int) -> list[KVBlock]:
        if count > self.num_free_blocks:
            raise RuntimeError(
                f"asked for {count} KV blocks with {self.num_free_blocks} free; admission is broken"
            )
        blocks: list[KVBlock] = []
        evicted: list[bytes] = []
        for _ in range(count):
            if self._free_plain:
                block = self._free_plain.pop()
            elif self._next_fresh_id < self.num_blocks:
                block = KVBlock(self._next_fresh_id)
                self._next_fresh_id += 1
            else:
                _, block = self._free_cached.popitem(last=False)
                assert block.block_hash is not None
                del self._cached[block.block_hash]
                evicted.append(block.block_hash)
                block.block_hash = None
                self.evictions += 1
            block.ref_count = 1
            blocks.append(block)
        if evicted and self._event_sink is not None:
            self._event_sink.record(BlocksRemoved(tuple(evicted)))
        return blocks

    def register(self, block: KVBlock, block_hash: bytes) -> bool:
        """Publish a full, computed block for reuse; the first holder of a hash keeps it.

        Returns True when this call made the block a new cache entry.
        """
        if not self.enable_prefix_caching or block.block_hash is not None or block_hash in self._cached:
            return False
        block.block_hash = block_hash
        self._cached[block_hash] = block
        return True

    def reset_prefix_cache(self) -> None:
        """Forget every cached prefix (vLLM's ``/reset_prefix_cache``); blocks in use keep their tokens."""
        for block in self._cached.values():
            block.block_hash = None
            if block.ref_count == 0:
                del self._free_cached[block.block_id]
                self._free_plain.append(block)
        self._cached.clear()
        if self._event_sink is not None:
            self._event_sink.record(AllBlocksCleared())

    def release(self, blocks: Sequence[KVBlock]) -> None:
        # Freed in reverse so a sequence's tail blocks are evicted before its head: heads are the
        # shared prefixes most likely to be hit again.
        for block in reversed(blocks):
            block.ref_count -= 1
            if block.ref_count > 0:
                continue
            if block.block_hash is None:
                self._free_plain.append(block)
            else:
                self._free_cached[block.block_id] = block
