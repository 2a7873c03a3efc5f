"""What the KV cache tells the outside world: blocks stored, evicted, or all dropped (vLLM's KV events).

The engine stays pure: it hands these records to an injected :class:`KVCacheEventSink` as they happen and
never knows whether anyone publishes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BlocksStored:
    """A run of consecutive full blocks of one request became reusable cache entries.

    ``token_ids`` holds exactly ``len(block_hashes) * block_size`` tokens; ``parent_block_hash`` is the hash
    of the block right before the run (None when the run starts at the prompt's first block).
    """

    block_hashes: tuple[bytes, ...]
    parent_block_hash: bytes | None
    token_ids: tuple[int, ...]
    block_size: int
    lora_name: str | None
    cache_salt: str | None


@dataclass(frozen=True, slots=True)
class BlocksRemoved:
    block_hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AllBlocksCleared:
    pass


KVCacheEvent = BlocksStored | BlocksRemoved | AllBlocksCleared


class KVCacheEventSink(Protocol):
    def record(self, event: KVCacheEvent) -> None: ...
