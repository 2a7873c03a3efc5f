"""msgpack encoding of KV-event batches exactly as vLLM's msgspec structs produce it.

Batch: ``[ts, [event, ...], data_parallel_rank]`` (array-like ``KVEventBatch``). Events: tagged by class
name, either as maps (``{"type": "BlockStored", ...}``) or as arrays (``["BlockStored", ...]``), with
msgspec's ``omit_defaults``: only defaulted fields equal to their default are left out (in arrays only
trailing ones). Block hashes are vLLM's external form: with ``VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1`` (the
default) the last 8 bytes of the digest read big-endian as an unsigned int, otherwise the raw bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from sim.engine.kv_cache_events import AllBlocksCleared, BlocksRemoved, BlocksStored, KVCacheEvent
from sim.kv_events.config import EventEncoding

MEDIUM_GPU = "GPU"
FULL_ATTENTION = "full_attention"


class KVEventEncoder:
    def __init__(self, encoding: EventEncoding = EventEncoding.MAP, int_block_hashes: bool = True) -> None:
        self.encoding = encoding
        self.int_block_hashes = int_block_hashes

    def encode_batch(self, ts: float, events: Sequence[KVCacheEvent], data_parallel_rank: int = 0) -> bytes:
        return msgpack.packb([ts, [self._event(event) for event in events], data_parallel_rank])

    def _hash(self, block_hash: bytes) -> int | bytes:
        return int.from_bytes(block_hash[-8:], "big") if self.int_block_hashes else block_hash

    def _event(self, event: KVCacheEvent) -> Any:
        if isinstance(event, BlocksStored):
            fields: list[tuple[str, Any]] = [
                ("block_hashes", [self._hash(h) for h in event.block_hashes]),
                (
                    "parent_block_hash",
                    None if event.parent_block_hash is None else self._hash(event.parent_block_hash),
                ),
                ("token_ids", list(event.token_ids)),
                ("block_size", event.block_size),
                ("lora_id", None),
                ("medium", MEDIUM_GPU),
                ("lora_name", event.lora_name),
                ("extra_keys", _extra_keys(event)),
                ("group_idx", 0),
                ("kv_cache_spec_kind", FULL_ATTENTION),
            ]
            return self._tagged("BlockStored", fields)
        if isinstance(event, BlocksRemoved):
            return self._tagged(
                "BlockRemoved",
                [
                    ("block_hashes", [self._hash(h) for h in event.block_hashes]),
                    ("medium", MEDIUM_GPU),
                    ("group_idx", 0),
                ],
            )
        if isinstance(event, AllBlocksCleared):
            return self._tagged("AllBlocksCleared", [])
        raise TypeError(f"not a KV cache event: {event!r}")

    def _tagged(self, tag: str, fields: list[tuple[str, Any]]) -> Any:
        if self.encoding is EventEncoding.MAP:
            return {"type": tag, **dict(fields)}
        return [tag, *(value for _, value in fields)]


def _extra_keys(event: BlocksStored) -> list[list[str] | None]:
    """vLLM's per-block extra hash keys: the adapter name on every block, the cache salt on block 0."""
    keys: list[list[str] | None] = []
    for index in range(len(event.block_hashes)):
        block_keys = [event.lora_name] if event.lora_name else []
        if index == 0 and event.parent_block_hash is None and event.cache_salt:
            block_keys.append(event.cache_salt)
        keys.append(block_keys or None)
    return keys
