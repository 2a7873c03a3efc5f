"""The simulator's approximate tokenizer (``sim/tokenizer.py``), so the picker cuts simulator prompts into the
same token blocks the simulator hashes. Words with their leading whitespace, split into pieces of at most 4
UTF-8 bytes on character boundaries; a piece's id is its bytes read as a big-endian unsigned int. Not a
real model's vocabulary.

Written for speed rather than like the simulator's (a unit test keeps the two equal): each word becomes its
pieces as 4-byte big-endian words (a short last piece zero-padded in front, which leaves its value alone),
words already seen come from a bounded cache of those bytes, and a text's ids are read from the joined bytes in
one call. Bytes are not tracked by the garbage collector; a cache of per-word tuples was most of the picker's
young-generation collections.
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections import OrderedDict

_MAX_PIECE_BYTES = 4
_WORD = re.compile(r"\x00|\s*[^\s\x00]+|\s+")
_WORD_CACHE_CAPACITY = 65_536
_PIECE_TYPECODE = "I"  # 4 bytes on every platform CPython supports (checked below)
_NATIVE_IS_BIG_ENDIAN = sys.byteorder == "big"
assert array(_PIECE_TYPECODE).itemsize == _MAX_PIECE_BYTES


class ApproximateTokenizer:
    def __init__(self) -> None:
        self._words: OrderedDict[str, bytes] = OrderedDict()

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text`` (this tokenizer has no special tokens)."""
        packed: list[bytes] = []
        append = packed.append
        words = self._words
        for word in _WORD.findall(text):
            pieces = words.get(word)
            if pieces is None:
                pieces = _packed_pieces(word)
                if len(words) >= _WORD_CACHE_CAPACITY:
                    words.popitem(last=False)  # the oldest; clearing all at once stalls a request
                words[word] = pieces
            append(pieces)
        token_ids = array(_PIECE_TYPECODE)
        token_ids.frombytes(b"".join(packed))
        if not _NATIVE_IS_BIG_ENDIAN:
            token_ids.byteswap()
        return token_ids.tolist()

    def special_tokens_around(self) -> tuple[list[int], list[int]]:
        return [], []


def _packed_pieces(word: str) -> bytes:
    """The word's pieces as consecutive 4-byte big-endian ids."""
    if word.isascii():  # one byte per character: pieces are every 4 characters
        encoded = word.encode("ascii")
        rest = len(encoded) % _MAX_PIECE_BYTES
        if not rest:
            return encoded
        cut = len(encoded) - rest
        return encoded[:cut] + bytes(_MAX_PIECE_BYTES - rest) + encoded[cut:]
    pieces = _pieces(word)
    return struct.pack(f">{len(pieces)}I", *pieces)


def _pieces(word: str) -> tuple[int, ...]:
    """A non-ASCII word's pieces: at most 4 UTF-8 bytes each, cut on character boundaries."""
    pieces: list[int] = []
    current = b""
    for char in word:
        encoded_char = char.encode("utf-8")
        if current and len(current) + len(encoded_char) > _MAX_PIECE_BYTES:
            pieces.append(int.from_bytes(current, "big"))
            current = b""
        current += encoded_char
    if current:
        pieces.append(int.from_bytes(current, "big"))
    return tuple(pieces)
