"""The datagram between sibling deciders: round trip of placements and in-flight reports, batching under the
size bound, and refusals with their causes."""

from __future__ import annotations

import msgpack
import pytest
from picker.framework.placement_sharing import SharedPlacement
from picker.placements.wire import (
    MAX_DATAGRAM_BYTES,
    MAX_KEYS,
    BadPlacementDatagram,
    InFlightReport,
    SiblingDatagram,
    decode,
    encode,
)

KEYS = (0, 1, 2**63, 2**64 - 1)  # block keys are unsigned 64-bit
SENDER = b"\x01" * 8


def test_round_trip_keeps_every_field() -> None:
    placements = [SharedPlacement("scorer", "vllm-0", KEYS, 3), SharedPlacement("scorer", "vllm-1", (7,), 0)]
    (datagram,) = encode(SENDER, 7, placements)
    assert decode(datagram) == SiblingDatagram(SENDER, 7, placements, None)


def test_an_in_flight_report_travels_with_the_placements_of_its_batch() -> None:
    placement = SharedPlacement("scorer", "vllm-0", KEYS, 3)
    report = InFlightReport(False, {"vllm-0": 3, "vllm-1": 0})
    (datagram,) = encode(SENDER, 8, [placement], report)
    assert decode(datagram) == SiblingDatagram(SENDER, 8, [placement], report)


def test_an_empty_snapshot_is_sent_it_says_the_sender_holds_nothing() -> None:
    (datagram,) = encode(SENDER, 9, [], InFlightReport(True, {}))
    assert decode(datagram) == SiblingDatagram(SENDER, 9, [], InFlightReport(True, {}))
    assert list(encode(SENDER, 10, [])) == []


def test_a_batch_too_big_for_one_datagram_is_split_in_order() -> None:
    placements = [SharedPlacement("scorer", f"vllm-{i}", tuple(range(i, i + 2000)), 5) for i in range(20)]
    datagrams = list(encode(SENDER, 1, placements))
    assert len(datagrams) > 1
    assert all(len(datagram) <= MAX_DATAGRAM_BYTES for datagram in datagrams)
    assert [placement for datagram in datagrams for placement in decode(datagram).placements] == placements


def test_a_snapshot_too_big_for_one_datagram_is_split_the_first_part_marked_snapshot() -> None:
    counts = {f"vllm-{i:05d}-{'x' * 100}": i + 1 for i in range(400)}  # ~45 bytes x 4 per name: 2+ datagrams
    datagrams = list(encode(SENDER, 3, [SharedPlacement("scorer", "vllm-0", KEYS, 1)], InFlightReport(True, counts)))
    assert len(datagrams) > 1
    assert all(len(datagram) <= MAX_DATAGRAM_BYTES for datagram in datagrams)
    messages = [decode(datagram) for datagram in datagrams]
    reports = [message.in_flight for message in messages if message.in_flight is not None]
    assert [report.snapshot for report in reports] == [True] + [False] * (len(reports) - 1)
    assert {name: count for report in reports for name, count in report.counts.items()} == counts
    assert {message.sequence for message in messages} == {3}


def test_a_placement_longer_than_the_cap_is_shared_as_its_prefix() -> None:
    keys = tuple(range(MAX_KEYS + 100))
    (datagram,) = encode(SENDER, 1, [SharedPlacement("scorer", "vllm-0", keys, MAX_KEYS + 100)])
    (placement,) = decode(datagram).placements
    assert placement.keys == keys[:MAX_KEYS]
    assert placement.new_blocks == MAX_KEYS


@pytest.mark.parametrize(
    ("datagram", "cause"),
    [
        (b"\xc1", "malformed"),  # never used in msgpack
        (msgpack.packb({"a": 1}), "malformed"),
        (msgpack.packb([2, SENDER, 1, [["scorer", "vllm-0", b"1234567", 0]], None]), "malformed"),  # 7 bytes
        (msgpack.packb([2, SENDER, 1, [["scorer", "vllm-0", [1, 2], 0]], None]), "malformed"),
        (msgpack.packb([2, SENDER, 1, [["scorer", "", b"", 0]], None]), "malformed"),
        (msgpack.packb([2, SENDER, 1, [["scorer", "vllm-0", b"", -1]], None]), "malformed"),
        (msgpack.packb([2, [["scorer", "vllm-0", b"", 0]], None]), "malformed"),  # no sender
        (msgpack.packb([2, SENDER, "1", [], None]), "malformed"),  # sequence not an integer
        (msgpack.packb([2, SENDER, 1, []]), "malformed"),  # no in-flight part
        (msgpack.packb([2, SENDER, 1, [], [True]]), "malformed"),
        (msgpack.packb([2, SENDER, 1, [], [1, {"vllm-0": 1}]]), "malformed"),  # snapshot not a bool
        (msgpack.packb([2, SENDER, 1, [], [True, {"vllm-0": -1}]]), "malformed"),
        (msgpack.packb([2, SENDER, 1, [], [True, {"vllm-0": 1.5}]]), "malformed"),
        (msgpack.packb([2, SENDER, 1, [], [True, {"": 1}]]), "malformed"),
        (msgpack.packb([2, SENDER, 1, [], [True, {b"vllm-0": 1}]]), "malformed"),  # name not a string
        (msgpack.packb([1, SENDER, []]), "unsupported_version"),  # a picker from before in-flight reports
        (b"\x00" * (MAX_DATAGRAM_BYTES + 1), "oversized"),
    ],
)
def test_what_is_not_a_sibling_datagram_is_refused_with_its_cause(datagram: bytes, cause: str) -> None:
    with pytest.raises(BadPlacementDatagram) as refused:
        decode(datagram)
    assert refused.value.cause == cause
