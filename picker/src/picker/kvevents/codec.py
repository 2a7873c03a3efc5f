"""Decodes vLLM's KV-event payloads (msgpack ``KVEventBatch``) in both encodings vLLM has shipped.

Batch: ``[ts, events, data_parallel_rank?]`` (or a map of those keys). Events: positional arrays
``["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, lora_name,
extra_keys, ...]`` (vLLM <= 0.23) or ``"type"``-tagged maps (vLLM >= 0.24); trailing or defaulted fields may
be absent. Anything else raises :class:`KVEventDecodeError` naming the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from picker.framework.kv_events import AllBlocksCleared, BlockRemoved, BlockStored, EventBatch, KVEvent

_UINT64 = (1 << 64) - 1
_BLOCK_STORED_FIELDS = (
    "block_hashes",
    "parent_block_hash",
    "token_ids",
    "block_size",
    "lora_id",
    "medium",
    "lora_name",
    "extra_keys",
)
_BLOCK_REMOVED_FIELDS = ("block_hashes", "medium")

MALFORMED = "malformed"
UNKNOWN_EVENT_TYPE = "unknown_event_type"


class KVEventDecodeError(ValueError):
    """A payload that is not a vLLM KV-event batch; ``cause`` is a metric label value."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def decode_batch(payload: bytes) -> EventBatch:
    try:
        raw = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as error:
        raise KVEventDecodeError(MALFORMED, f"payload is not msgpack: {error}") from None
    if isinstance(raw, dict):
        ts, events, rank = raw.get("ts"), raw.get("events"), raw.get("data_parallel_rank")
    elif isinstance(raw, list | tuple) and len(raw) >= 2:
        ts, events = raw[0], raw[1]
        rank = raw[2] if len(raw) > 2 else None
    else:
        raise KVEventDecodeError(MALFORMED, "batch is neither [ts, events, rank] nor a map")
    if not isinstance(ts, int | float) or not isinstance(events, list | tuple):
        raise KVEventDecodeError(MALFORMED, "batch needs a numeric ts and a list of events")
    if rank is not None and not isinstance(rank, int):
        raise KVEventDecodeError(MALFORMED, "data_parallel_rank must be an int or nil")
    return EventBatch(float(ts), tuple(_event(event) for event in events), rank)


def _event(raw: Any) -> KVEvent:
    if isinstance(raw, dict):
        tag, fields = raw.get("type"), raw
    elif isinstance(raw, list | tuple) and raw:
        tag = raw[0]
        names = _BLOCK_STORED_FIELDS if tag == "BlockStored" else _BLOCK_REMOVED_FIELDS
        fields = dict(zip(names, raw[1:], strict=False))
    else:
        raise KVEventDecodeError(
            MALFORMED, f"event is neither a tagged array nor a map: {type(raw).__name__}"
        )
    if tag == "BlockStored":
        return _block_stored(fields)
    if tag == "BlockRemoved":
        return BlockRemoved(
            _hashes(fields.get("block_hashes")), _optional_str(fields.get("medium"), "medium")
        )
    if tag == "AllBlocksCleared":
        return AllBlocksCleared()
    raise KVEventDecodeError(UNKNOWN_EVENT_TYPE, f"unknown event type {tag!r}")


def _block_stored(fields: dict[str, Any]) -> BlockStored:
    hashes = _hashes(fields.get("block_hashes"))
    parent = fields.get("parent_block_hash")
    token_ids = fields.get("token_ids")
    block_size = fields.get("block_size")
    if not isinstance(token_ids, list | tuple) or not all(isinstance(t, int) for t in token_ids):
        raise KVEventDecodeError(MALFORMED, "BlockStored.token_ids must be a list of ints")
    if not isinstance(block_size, int) or block_size <= 0:
        raise KVEventDecodeError(MALFORMED, "BlockStored.block_size must be a positive int")
    if len(token_ids) != len(hashes) * block_size:
        raise KVEventDecodeError(
            MALFORMED,
            f"BlockStored has {len(token_ids)} tokens for {len(hashes)} blocks of {block_size}",
        )
    lora_name = _optional_str(fields.get("lora_name"), "lora_name")
    return BlockStored(
        block_hashes=hashes,
        parent_block_hash=None if parent is None else _hash(parent),
        token_ids=tuple(token_ids),
        block_size=block_size,
        lora_name=lora_name,
        medium=_optional_str(fields.get("medium"), "medium"),
        cache_salt=_cache_salt(fields.get("extra_keys"), lora_name) if parent is None else None,
    )


def _hashes(raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise KVEventDecodeError(MALFORMED, "block_hashes must be a non-empty list")
    return tuple(_hash(value) for value in raw)


def _hash(value: Any) -> int:
    """uint64 as is, a negative int64 as its two's complement, bytes as their last 8 bytes big-endian."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value & _UINT64
    if isinstance(value, bytes) and value:
        return int.from_bytes(value[-8:], "big")
    raise KVEventDecodeError(MALFORMED, f"a block hash must be an int or bytes, got {type(value).__name__}")


def _optional_str(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise KVEventDecodeError(MALFORMED, f"{field} must be a string or nil")


def _cache_salt(extra_keys: Any, lora_name: str | None) -> str | None:
    """The salt among the first block's extra keys: a string that is not the adapter name (vLLM tuples)
    or a ``{"type": "cache_salt", "salt": ...}`` entry (newest vLLM's typed keys)."""
    if not isinstance(extra_keys, Sequence) or not extra_keys:
        return None
    first = extra_keys[0]
    if not isinstance(first, list | tuple):
        return None
    for key in first:
        if isinstance(key, dict) and key.get("type") == "cache_salt" and isinstance(key.get("salt"), str):
            return str(key["salt"])
        if isinstance(key, str) and key != lora_name:
            return key
    return None
