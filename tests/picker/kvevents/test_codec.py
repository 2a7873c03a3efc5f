"""The decoder reads vLLM's KV-event batches in both encodings and names what is wrong with bad ones."""

from __future__ import annotations

import msgpack
import pytest
from picker.framework.kv_events import AllBlocksCleared, BlockRemoved, BlockStored
from picker.kvevents.codec import MALFORMED, UNKNOWN_EVENT_TYPE, KVEventDecodeError, decode_batch

from tests.picker.kvevents.vllm_payloads import all_cleared, batch, block_removed, block_stored


@pytest.mark.parametrize("encoding", ["map", "array"])
def test_both_encodings_decode_to_the_same_events(encoding: str) -> None:
    payload = batch(
        block_stored([11, 12], list(range(8)), lora_name="sql", encoding=encoding),
        block_removed([11], encoding=encoding),
        all_cleared(encoding),
        rank=3,
    )
    decoded = decode_batch(payload)
    assert decoded.ts == 1.5 and decoded.data_parallel_rank == 3
    assert decoded.events == (
        BlockStored((11, 12), None, tuple(range(8)), 4, "sql", "GPU"),
        BlockRemoved((11,), "GPU"),
        AllBlocksCleared(),
    )


def test_hashes_normalise_to_uint64() -> None:
    digest = bytes(range(32))
    payload = batch(block_stored([-1, digest], list(range(8)), parent=2**64 - 5))
    (event,) = decode_batch(payload).events
    assert event.block_hashes == (2**64 - 1, int.from_bytes(digest[-8:], "big"))
    assert event.parent_block_hash == 2**64 - 5


def test_a_map_batch_and_a_batch_without_rank_are_accepted() -> None:
    as_map = msgpack.packb({"ts": 2.0, "events": [all_cleared()], "data_parallel_rank": None})
    short = msgpack.packb([2.0, [all_cleared("array")]])
    assert decode_batch(as_map).events == decode_batch(short).events == (AllBlocksCleared(),)


def test_cache_salt_comes_from_the_first_blocks_extra_keys() -> None:
    tuple_form = block_stored(
        [1, 2], list(range(8)), lora_name="sql", extra_keys=[["sql", "tenant"], ["sql"]]
    )
    typed_form = block_stored([1], list(range(4)), extra_keys=[[{"type": "cache_salt", "salt": "t2"}]])
    first, second = decode_batch(batch(tuple_form, typed_form)).events
    assert first.cache_salt == "tenant" and second.cache_salt == "t2"


@pytest.mark.parametrize(
    ("payload", "cause"),
    [
        (b"\xc1not msgpack", MALFORMED),
        (msgpack.packb("just a string"), MALFORMED),
        (batch({"type": "BlockMoved", "block_hashes": [1]}), UNKNOWN_EVENT_TYPE),
        (batch(["Defragmented"]), UNKNOWN_EVENT_TYPE),
        (batch(block_stored([1, 2], list(range(5)))), MALFORMED),  # 5 tokens for 2 blocks of 4
        (batch(block_stored([], [])), MALFORMED),
        (batch(block_stored(["h"], list(range(4)))), MALFORMED),
        (batch(42), MALFORMED),
    ],
    ids=[
        "not-msgpack",
        "not-a-batch",
        "unknown-map-type",
        "unknown-array-type",
        "token-count",
        "no-hashes",
        "string-hash",
        "event-not-a-struct",
    ],
)
def test_bad_payloads_raise_with_a_cause(payload: bytes, cause: str) -> None:
    with pytest.raises(KVEventDecodeError) as raised:
        decode_batch(payload)
    assert raised.value.cause == cause
