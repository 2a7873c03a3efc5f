"""KV-event payloads built by hand from vLLM's published structs (vllm/distributed/kv_events.py), in both
encodings vLLM has shipped, for testing the picker's decoder against the schema rather than against itself."""

from __future__ import annotations

from typing import Any

import msgpack

from tests.sim.kv_events.vllm_schema import FIELDS

STORED_FIELDS = FIELDS["BlockStored"][:7]  # vLLM's fields before extra_keys


def block_stored(
    hashes: list[Any],
    tokens: list[int],
    parent: Any = None,
    block_size: int = 4,
    lora_name: str | None = None,
    encoding: str = "map",
    extra_keys: list[Any] | None = None,
) -> Any:
    values = [hashes, parent, tokens, block_size, None, "GPU", lora_name]
    if encoding == "array":
        return ["BlockStored", *values] + ([extra_keys] if extra_keys is not None else [])
    event = {"type": "BlockStored", **dict(zip(STORED_FIELDS, values, strict=True))}
    if extra_keys is not None:
        event["extra_keys"] = extra_keys
    return event | {"group_idx": 0, "kv_cache_spec_kind": "full_attention"}


def block_removed(hashes: list[Any], encoding: str = "map") -> Any:
    if encoding == "array":
        return ["BlockRemoved", hashes, "GPU"]
    return {"type": "BlockRemoved", "block_hashes": hashes, "medium": "GPU", "group_idx": 0}


def all_cleared(encoding: str = "map") -> Any:
    return ["AllBlocksCleared"] if encoding == "array" else {"type": "AllBlocksCleared"}


def batch(*events: Any, ts: float = 1.5, rank: int | None = 0) -> bytes:
    return msgpack.packb([ts, list(events), rank])


def frames(topic: str, seq: int, payload: bytes) -> list[bytes]:
    return [topic.encode(), seq.to_bytes(8, "big"), payload]
