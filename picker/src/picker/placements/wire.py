"""The placement datagram: one msgpack array per datagram, at most ``MAX_DATAGRAM_BYTES``.

    [1, sender: bin, [[plugin: str, endpoint: str, keys: bin, new_blocks: int], ...]]

``sender`` is the sending channel's random id: a decider that finds itself among its peers (a headless
Service's addresses include the pod's own) drops its own datagrams by it.

``keys`` is the block-key chain as little-endian unsigned 64-bit integers (8 bytes each). A placement with
more than ``MAX_KEYS`` keys is shared as its first ``MAX_KEYS`` (a chain's prefix is a valid placement), so
every placement fits one datagram. Anything else is refused with :class:`BadPlacementDatagram`, naming why.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Sequence

import msgpack

from picker.framework.placement_sharing import SharedPlacement

VERSION = 1
# Under the smallest default socket buffers (212,992 bytes) with room to spare, and above any one placement.
MAX_DATAGRAM_BYTES = 60_000
MAX_KEYS = 4096  # 32 KiB of keys: 65,536 tokens at 16 per block
_MAX_NAME_CHARS = 512
_KEY = "Q"
assert array(_KEY).itemsize == 8
_SWAP = sys.byteorder != "little"


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


def encode(sender: bytes, placements: Sequence[SharedPlacement]) -> Iterator[bytes]:
    """The placements in as few datagrams as fit ``MAX_DATAGRAM_BYTES``, in order."""
    entries: list[list[object]] = []
    envelope = 16 + len(sender)
    size = envelope
    for placement in placements:
        keys = _key_bytes(placement.keys)
        entry: list[object] = [placement.plugin, placement.endpoint, keys, min(placement.new_blocks, MAX_KEYS)]
        entry_size = 4 * (len(placement.plugin) + len(placement.endpoint)) + len(keys) + 32
        if entries and size + entry_size > MAX_DATAGRAM_BYTES:
            yield msgpack.packb([VERSION, sender, entries])
            entries, size = [], envelope
        entries.append(entry)
        size += entry_size
    if entries:
        yield msgpack.packb([VERSION, sender, entries])


def decode(datagram: bytes) -> tuple[bytes, list[SharedPlacement]]:
    """The sender and placements of one datagram. Raises BadPlacementDatagram (cause ``oversized``,
    ``malformed`` or ``unsupported_version``)."""
    if len(datagram) > MAX_DATAGRAM_BYTES:
        raise BadPlacementDatagram("oversized", f"{len(datagram)} bytes (at most {MAX_DATAGRAM_BYTES})")
    try:
        document = msgpack.unpackb(datagram, use_list=True, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as error:
        raise BadPlacementDatagram("malformed", f"not msgpack: {error}") from None
    if not isinstance(document, list) or not document:
        raise BadPlacementDatagram("malformed", "expected [version, sender, [placement, ...]]")
    if document[0] != VERSION:
        raise BadPlacementDatagram("unsupported_version", f"version {document[0]!r} (this picker reads {VERSION})")
    if len(document) != 3 or not isinstance(document[1], bytes) or not isinstance(document[2], list):
        raise BadPlacementDatagram("malformed", "expected [version, sender, [placement, ...]]")
    placements = []
    for entry in document[2]:
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
    return document[1], placements
