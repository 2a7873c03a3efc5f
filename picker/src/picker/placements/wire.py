"""The datagram between sibling deciders: one msgpack array per datagram, at most ``MAX_DATAGRAM_BYTES``.

    [2, sender: bin, sequence: int,
     [[plugin: str, endpoint: str, keys: bin, new_blocks: int], ...],   # placements
     nil | [snapshot: bool, {endpoint: str: in_flight: int, ...}]]     # the sender's in-flight report

``sender`` is the sending channel's random id: a decider that finds itself among its peers (a headless
Service's addresses include the pod's own) drops its own datagrams by it. ``sequence`` grows with every
batch the sender sends (the datagrams of one batch share it): a receiver ignores an in-flight report older
than the last it applied from that sender.

The in-flight report gives the sender's *absolute* count of requests in flight per endpoint (its own, not
its siblings'): the endpoints whose count changed since its last batch, or with ``snapshot`` every endpoint
it holds requests on (one it does not name holds none). A report too big for one datagram is split over the
batch's datagrams, the first part marked ``snapshot``, the others not (they add to it).

``keys`` is the block-key chain as little-endian unsigned 64-bit integers (8 bytes each). A placement with
more than ``MAX_KEYS`` keys is shared as its first ``MAX_KEYS`` (a chain's prefix is a valid placement), so
every placement fits one datagram. Anything else is refused with :class:`BadPlacementDatagram`, naming why.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import msgpack

from picker.framework.placement_sharing import SharedPlacement

VERSION = 2  # 1: placements only, before in-flight reports (refused as unsupported_version)
# Under the smallest default socket buffers (212,992 bytes) with room to spare, and above any one placement.
MAX_DATAGRAM_BYTES = 60_000
MAX_KEYS = 4096  # 32 KiB of keys: 65,536 tokens at 16 per block
_MAX_NAME_CHARS = 512
_KEY = "Q"
assert array(_KEY).itemsize == 8
_SWAP = sys.byteorder != "little"


@dataclass(frozen=True, slots=True)
class InFlightReport:
    """A sender's absolute in-flight counts per endpoint; ``snapshot``: every endpoint it holds any on."""

    snapshot: bool
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SiblingDatagram:
    sender: bytes
    sequence: int
    placements: list[SharedPlacement]
    in_flight: InFlightReport | None


class BadPlacementDatagram(ValueError):
    """A datagram that is not a placement batch; ``cause`` is the metric label."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause


def _key_bytes(keys: Sequence[int]) -> bytes:
    packed = array(_KEY, keys[:MAX_KEYS])
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def encode(
    sender: bytes,
    sequence: int,
    placements: Sequence[SharedPlacement],
    in_flight: InFlightReport | None = None,
) -> Iterator[bytes]:
    """The batch in as few datagrams as fit ``MAX_DATAGRAM_BYTES``: the in-flight report first, then the
    placements in order."""
    envelope = 32 + len(sender)
    entries: list[list[object]] = []
    counts: dict[str, int] = {}
    report_due = in_flight is not None  # the first datagram carries the report, even an empty snapshot
    snapshot = in_flight is not None and in_flight.snapshot
    size = envelope

    def datagram() -> bytes:
        nonlocal entries, counts, size, report_due, snapshot
        report = [snapshot, counts] if counts or report_due else None
        packed: bytes = msgpack.packb([VERSION, sender, sequence, entries, report])
        entries, counts, size, report_due, snapshot = [], {}, envelope, False, False
        return packed

    if in_flight is not None:
        for endpoint, count in in_flight.counts.items():
            entry_size = 4 * len(endpoint) + 12
            if counts and size + entry_size > MAX_DATAGRAM_BYTES:
                yield datagram()
            counts[endpoint] = count
            size += entry_size
    for placement in placements:
        keys = _key_bytes(placement.keys)
        entry: list[object] = [placement.plugin, placement.endpoint, keys, min(placement.new_blocks, MAX_KEYS)]
        entry_size = 4 * (len(placement.plugin) + len(placement.endpoint)) + len(keys) + 32
        if (entries or counts) and size + entry_size > MAX_DATAGRAM_BYTES:
            yield datagram()
        entries.append(entry)
        size += entry_size
    if entries or counts or report_due:
        yield datagram()


def decode(datagram: bytes) -> SiblingDatagram:
    """One datagram's sender, sequence, placements and in-flight report. Raises BadPlacementDatagram (cause
    ``oversized``, ``malformed`` or ``unsupported_version``)."""
    if len(datagram) > MAX_DATAGRAM_BYTES:
        raise BadPlacementDatagram("oversized", f"{len(datagram)} bytes (at most {MAX_DATAGRAM_BYTES})")
    try:
        document = msgpack.unpackb(datagram, use_list=True, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as error:
        raise BadPlacementDatagram("malformed", f"not msgpack: {error}") from None
    if not isinstance(document, list) or not document:
        raise BadPlacementDatagram("malformed", f"expected {_SHAPE}")
    if document[0] != VERSION:
        raise BadPlacementDatagram("unsupported_version", f"version {document[0]!r} (this picker reads {VERSION})")
    if not (
        len(document) == 5
        and isinstance(document[1], bytes)
        and type(document[2]) is int
        and isinstance(document[3], list)
    ):
        raise BadPlacementDatagram("malformed", f"expected {_SHAPE}")
    placements = []
    for entry in document[3]:
        if not (
            isinstance(entry, list)
            and len(entry) == 4
            and isinstance(entry[0], str)
            and isinstance(entry[1], str)
            and isinstance(entry[2], bytes)
            and type(entry[3]) is int
            and 0 < len(entry[0]) <= _MAX_NAME_CHARS
            and 0 < len(entry[1]) <= _MAX_NAME_CHARS
            and len(entry[2]) % 8 == 0
            and 0 <= entry[3] <= MAX_KEYS
        ):
            raise BadPlacementDatagram("malformed", "expected [plugin, endpoint, keys, new_blocks]")
        keys = array(_KEY)
        keys.frombytes(entry[2])
        if _SWAP:
            keys.byteswap()
        placements.append(SharedPlacement(entry[0], entry[1], tuple(keys), entry[3]))
    return SiblingDatagram(document[1], document[2], placements, _in_flight_report(document[4]))


def _in_flight_report(report: object) -> InFlightReport | None:
    if report is None:
        return None
    if not (
        isinstance(report, list) and len(report) == 2 and type(report[0]) is bool and isinstance(report[1], dict)
    ):
        raise BadPlacementDatagram("malformed", "expected the in-flight report as [snapshot, {endpoint: count}]")
    counts: dict[str, int] = report[1]
    for endpoint, count in counts.items():
        if not (isinstance(endpoint, str) and 0 < len(endpoint) <= _MAX_NAME_CHARS and type(count) is int and count >= 0):
            raise BadPlacementDatagram("malformed", "expected in-flight counts as {endpoint: count >= 0}")
    return InFlightReport(report[0], counts)


_SHAPE = "[version, sender, sequence, [placement, ...], in-flight report or nil]"
