"""A reader for vLLM's KV-event wire format, written from vLLM's published structs (vllm/distributed/kv_events.py),
not from the simulator's encoder: what any vLLM client would do with the bytes.

Frames: ``[topic, seq (8-byte big-endian), payload]``. Payload: msgspec msgpack of ``KVEventBatch``
(array-like ``[ts, events, data_parallel_rank]``; a map ``{ts, events, data_parallel_rank}`` also accepted).
Events: tagged union on the class name, array form ``[tag, *fields]`` or map form ``{"type": tag, ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

# Field order of each struct, oldest fields first (later vLLM versions append).
FIELDS = {
    "BlockStored": (
        "block_hashes",
        "parent_block_hash",
        "token_ids",
        "block_size",
        "lora_id",
        "medium",
        "lora_name",
        "extra_keys",
        "group_idx",
        "kv_cache_spec_kind",
        "kv_cache_spec_sliding_window",
    ),
    "BlockRemoved": ("block_hashes", "medium", "group_idx"),
    "AllBlocksCleared": (),
}
# Fields without a default in vLLM: msgspec's omit_defaults never leaves them out.
REQUIRED = {
    "BlockStored": {"block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id"},
    "BlockRemoved": {"block_hashes"},
    "AllBlocksCleared": set(),
}


@dataclass(frozen=True)
class Batch:
    ts: float
    events: list[dict[str, Any]]
    data_parallel_rank: int | None


def decode_frames(frames: list[bytes]) -> tuple[bytes, int, Batch]:
    assert len(frames) == 3, f"vLLM sends exactly 3 frames, got {len(frames)}"
    topic, seq, payload = frames
    assert len(seq) == 8
    return topic, int.from_bytes(seq, "big"), decode_batch(payload)


def decode_batch(payload: bytes) -> Batch:
    raw = msgpack.unpackb(payload, raw=False)
    if isinstance(raw, dict):
        ts, events, rank = raw["ts"], raw["events"], raw.get("data_parallel_rank")
    else:
        ts, events = raw[0], raw[1]
        rank = raw[2] if len(raw) > 2 else None
    return Batch(float(ts), [decode_event(event) for event in events], rank)


def decode_event(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        tag = raw["type"]
        fields = {key: value for key, value in raw.items() if key != "type"}
        unknown = set(fields) - set(FIELDS[tag])
        assert not unknown, f"{tag} has fields vLLM does not define: {unknown}"
    else:
        tag, values = raw[0], raw[1:]
        assert len(values) <= len(FIELDS[tag]), f"{tag} has more positional fields than vLLM defines"
        fields = dict(zip(FIELDS[tag], values, strict=False))
    missing = REQUIRED[tag] - set(fields)
    assert not missing, f"{tag} lacks required fields {missing}"
    return {"type": tag, **fields}
