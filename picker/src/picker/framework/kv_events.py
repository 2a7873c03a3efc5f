"""Model servers' KV-cache events as the picker sees them once decoded (vLLM's ``KVEventBatch``).

Block hashes are the servers' own, opaque to the picker, normalised to unsigned 64-bit ints (vLLM's
``VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1`` form; raw digests become their last 8 bytes, big-endian).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlockStored:
    block_hashes: tuple[int, ...]
    parent_block_hash: int | None  # None: the run starts at the prompt's first block
    token_ids: tuple[int, ...]
    block_size: int
    lora_name: str | None = None
    medium: str | None = None
    cache_salt: str | None = None  # from extra_keys of a first block


@dataclass(frozen=True, slots=True)
class BlockRemoved:
    block_hashes: tuple[int, ...]
    medium: str | None = None


@dataclass(frozen=True, slots=True)
class AllBlocksCleared:
    pass


KVEvent = BlockStored | BlockRemoved | AllBlocksCleared


@dataclass(frozen=True, slots=True)
class EventBatch:
    ts: float
    events: tuple[KVEvent, ...]
    data_parallel_rank: int | None = None
