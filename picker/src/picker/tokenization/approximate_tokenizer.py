"""The simulator's approximate tokenizer (``sim/tokenizer.py``), so the picker cuts simulator prompts into the
same token blocks the simulator hashes. Words with their leading whitespace, split into pieces of at most 4
UTF-8 bytes on character boundaries; a piece's id is its bytes read as a big-endian unsigned int. Not a
real model's vocabulary.

Written for speed rather than like the simulator's (a unit test keeps the two equal). Each word becomes its
pieces as 4-byte big-endian words in one string of code points below 256 (a short last piece zero-padded in
front, which leaves its value alone), and a text's ids are read from the joined string's bytes in one call.
ASCII text (the common case) is cut into words by C-level string operations instead of a regular expression:
a separator goes before every whitespace character, then those after whitespace go again (a run of
whitespace stays glued to the word after it), and around every NUL. Padded words already seen come from a
bounded cache, filled until it holds ``_WORD_CACHE_CAPACITY`` words and then left as it is: a vocabulary's
frequent words are among the first seen, and a word missing from it costs a few string slices, no eviction.
Cached values are strings, which the garbage collector does not track (a cache of per-word tuples was most
of the picker's young-generation collections).
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections.abc import Iterator

_MAX_PIECE_BYTES = 4
_WORD = re.compile(r"\x00|\s*[^\s\x00]+|\s+")
_WORD_CACHE_CAPACITY = 65_536
_PIECE_TYPECODE = "I"  # 4 bytes on every platform CPython supports (checked below)
_NATIVE_IS_BIG_ENDIAN = sys.byteorder == "big"
# Zero bytes before a word's last piece of 0, 1, 2 or 3 bytes (indexed by the word's length mod 4).
_PADDING = ("", "\x00\x00\x00", "\x00\x00", "\x00")
# The ASCII characters ``_WORD``'s ``\s`` matches, and a separator that is none of them (nor NUL).
_ASCII_WHITESPACE = tuple(char for char in map(chr, range(128)) if re.fullmatch(r"\s", char))
_SEPARATOR = "\x01"
assert array(_PIECE_TYPECODE).itemsize == _MAX_PIECE_BYTES
assert _SEPARATOR not in _ASCII_WHITESPACE


class ApproximateTokenizer:
    def __init__(self) -> None:
        self._words: dict[str, str] = {}

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text`` (this tokenizer has no special tokens)."""
        return self.encode_packed(text).tolist()

    def encode_packed(self, text: str) -> array[int]:
        """:meth:`encode`'s ids as ``array('I')``, without making an int object per id."""
        token_ids = array(_PIECE_TYPECODE)
        token_ids.frombytes(self._packed(text).encode("latin-1"))
        if not _NATIVE_IS_BIG_ENDIAN:
            token_ids.byteswap()
        return token_ids

    def special_tokens_around(self) -> tuple[list[int], list[int]]:
        return [], []

    def _packed(self, text: str) -> str:
        """The text's pieces as consecutive 4-byte big-endian ids, one code point per byte."""
        cache = self._words
        cached = cache.get
        # Words not cached are stored until the cache is full (it may pass its capacity by one text's words),
        # then padded as they come.
        keep = cache.setdefault if len(cache) < _WORD_CACHE_CAPACITY else _as_is
        if not (text.isascii() and _SEPARATOR not in text):
            return "".join([cached(word) or keep(word, _padded(word)) for word in _WORD.findall(text)])
        padding = _PADDING  # _padded's ASCII case inlined: no call per word not cached
        return "".join([
            cached(word)
            or keep(word, word[:-rest] + padding[rest] + word[-rest:] if (rest := len(word) & 3) else word)
            for word in _ascii_words(text)
        ])


def _as_is(word: str, padded: str) -> str:
    return padded


def _padded(word: str) -> str:
    """One word's pieces, packed (see :meth:`ApproximateTokenizer._packed`)."""
    if word.isascii():
        rest = len(word) & 3
        return word[:-rest] + _PADDING[rest] + word[-rest:] if rest else word
    pieces = _pieces(word)
    return struct.pack(f">{len(pieces)}I", *pieces).decode("latin-1")


def _ascii_words(text: str) -> Iterator[str]:
    """``_WORD.findall(text)`` for ASCII text without the separator."""
    present = [char for char in _ASCII_WHITESPACE if char in text]
    for char in present:
        text = text.replace(char, _SEPARATOR + char)
    for char in present:
        text = text.replace(char + _SEPARATOR, char)
    if "\x00" in text:
        text = text.replace("\x00", _SEPARATOR + "\x00" + _SEPARATOR)
    return filter(None, text.split(_SEPARATOR))  # no empty word before a leading space or around a NUL


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
