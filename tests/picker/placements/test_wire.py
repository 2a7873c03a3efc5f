"""The placement datagram: round trip, batching under the size bound, and refusals with their causes."""

from __future__ import annotations

import msgpack
import pytest
from picker.framework.placement_sharing import SharedPlacement
from picker.placements.wire import MAX_DATAGRAM_BYTES, MAX_KEYS, BadPlacementDatagram, decode, encode

KEYS = (0, 1, 2**63, 2**64 - 1)  # block keys are unsigned 64-bit
SENDER = b"\x01" * 8


def test_round_trip_keeps_every_field() -> None:
    placements = [SharedPlacement("scorer", "vllm-0", KEYS, 3), SharedPlacement("scorer", "vllm-1", (7,), 0)]
    (datagram,) = encode(SENDER, placements)
    assert decode(datagram) == (SENDER, placements)


def test_a_batch_too_big_for_one_datagram_is_split_in_order() -> None:
    placements = [SharedPlacement("scorer", f"vllm-{i}", tuple(range(i, i + 2000)), 5) for i in range(20)]
    datagrams = list(encode(SENDER, placements))
    assert len(datagrams) > 1
    assert all(len(datagram) <= MAX_DATAGRAM_BYTES for datagram in datagrams)
    assert [placement for datagram in datagrams for placement in decode(datagram)[1]] == placements


def test_a_placement_longer_than_the_cap_is_shared_as_its_prefix() -> None:
    keys = tuple(range(MAX_KEYS + 100))
    (datagram,) = encode(SENDER, [SharedPlacement("scorer", "vllm-0", keys, MAX_KEYS + 100)])
    _, (placement,) = decode(datagram)
    assert placement.keys == keys[:MAX_KEYS]
    assert placement.new_blocks == MAX_KEYS


@pytest.mark.parametrize(
    ("datagram", "cause"),
    [
        (b"\xc1", "malformed"),  # never used in msgpack
        (msgpack.packb({"a": 1}), "malformed"),
        (msgpack.packb([1, SENDER, [["scorer", "vllm-0", b"1234567", 0]]]), "malformed"),  # 7 bytes: not whole keys
        (msgpack.packb([1, SENDER, [["scorer", "vllm-0", [1, 2], 0]]]), "malformed"),
        (msgpack.packb([1, SENDER, [["scorer", "", b"", 0]]]), "malformed"),
        (msgpack.packb([1, SENDER, [["scorer", "vllm-0", b"", -1]]]), "malformed"),
        (msgpack.packb([1, [["scorer", "vllm-0", b"", 0]]]), "malformed"),  # no sender
        (msgpack.packb([2, SENDER, []]), "unsupported_version"),
        (b"\x00" * (MAX_DATAGRAM_BYTES + 1), "oversized"),
    ],
)
def test_what_is_not_a_placement_batch_is_refused_with_its_cause(datagram: bytes, cause: str) -> None:
    with pytest.raises(BadPlacementDatagram) as refused:
        decode(datagram)
    assert refused.value.cause == cause
