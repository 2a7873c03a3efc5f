"""The simulator's approximate tokenizer (``sim/tokenizer.py``), so the picker cuts simulator prompts into the
same token blocks the simulator hashes. Words with their leading whitespace, split into pieces of at most 4
UTF-8 bytes on character boundaries; a piece's id is its bytes read as a big-endian unsigned int. Not a
real model's vocabulary.

Written for speed rather than like the simulator's (a unit test keeps the two equal): ASCII words unpack
their 4-byte pieces in one ``struct`` call, and words already seen come from a bounded cache.
"""

from __future__ import annotations

import re
import struct
from collections import OrderedDict

_MAX_PIECE_BYTES = 4
_WORD = re.compile(r"\x00|\s*[^\s\x00]+|\s+")
_UNPACKERS = [struct.Struct(f">{count}I") for count in range(64)]
_WORD_CACHE_CAPACITY = 65_536


class ApproximateTokenizer:
    def __init__(self) -> None:
        self._words: OrderedDict[str, tuple[int, ...]] = OrderedDict()

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text`` (this tokenizer has no special tokens)."""
        token_ids: list[int] = []
        extend = token_ids.extend
        words = self._words
        for word in _WORD.findall(text):
            pieces = words.get(word)
            if pieces is None:
                pieces = _pieces(word)
                if len(words) >= _WORD_CACHE_CAPACITY:
                    words.popitem(last=False)  # the oldest; clearing all at once stalls a request
                words[word] = pieces
            extend(pieces)
        return token_ids

    def special_tokens_around(self) -> tuple[list[int], list[int]]:
        return [], []


def _pieces(word: str) -> tuple[int, ...]:
    if word.isascii():  # one byte per character: pieces are every 4 characters
        encoded = word.encode("ascii")
        full, rest = divmod(len(encoded), _MAX_PIECE_BYTES)
        unpacker = _UNPACKERS[full] if full < len(_UNPACKERS) else struct.Struct(f">{full}I")
        head = unpacker.unpack_from(encoded)
        return (*head, int.from_bytes(encoded[full * _MAX_PIECE_BYTES :], "big")) if rest else head
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
