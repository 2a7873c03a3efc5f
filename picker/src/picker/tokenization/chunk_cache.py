"""Tokenizing long prompts piecewise, with the pieces cached: shared prefixes are tokenized once.

A prompt is cut at content-defined boundaries: the first single space between two ASCII letters at or
after every ``chunk_chars`` characters. Prompts that share a prefix are cut identically inside it, so its
pieces hit the cache. Cutting there does not change the tokens for tokenizers that split words before
merging (GPT-2/Llama 3 byte-level BPE, SentencePiece-style metaspace, the simulator's approximate
tokenizer): the space starts the next word's token either way. Special tokens the tokenizer adds (BOS) are
added once around the whole prompt. A tokenizer for which that does not hold (e.g. a SentencePiece
``tokenizer.json`` that prepends "▁" to every text it normalizes, so a chunk's first word gains a marker the
whole prompt's does not) is found by ``cuts_are_transparent`` when it is loaded, and is then not cut.

Cached token ids are kept as ``array('I')``: an array is not a container the garbage collector tracks, where a
list of a few hundred ints per chunk is traversed by every collection while it stays cached (measured: the
picker's GC pauses came mostly from such lists).
"""

from __future__ import annotations

import string
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence

_ASCII_LETTERS = frozenset(string.ascii_letters)

Encode = Callable[[str], Sequence[int]]


class ChunkCache:
    def __init__(self, encode: Encode, chunk_chars: int = 1024, capacity_chunks: int = 8192) -> None:
        if chunk_chars < 1 or capacity_chunks < 1:
            raise ValueError("chunk_chars and capacity_chunks must be >= 1")
        self._encode = encode
        self._chunk_chars = chunk_chars
        self._capacity = capacity_chunks
        self._chunks: OrderedDict[str, Sequence[int]] = OrderedDict()

    def encode(self, text: str) -> list[int]:
        """Tokens of ``text`` without special tokens: the concatenated tokens of its chunks."""
        token_ids: list[int] = []
        for chunk in self.chunks(text):
            token_ids.extend(self.tokens(chunk))
        return token_ids

    def tokens(self, chunk: str) -> Sequence[int]:
        """One chunk's tokens (cached; an ``array('I')`` unless an id does not fit 32 bits; do not modify)."""
        cached = self._chunks.get(chunk)
        if cached is None:
            encoded = self._encode(chunk)
            if isinstance(encoded, array) and encoded.typecode == "I":
                cached = encoded
            else:
                try:
                    cached = array("I", encoded)
                except OverflowError:  # not a real vocabulary's id; the block hasher rejects it later
                    cached = tuple(encoded)
            self._chunks[chunk] = cached
            if len(self._chunks) > self._capacity:
                self._chunks.popitem(last=False)
        else:
            self._chunks.move_to_end(chunk)
        return cached

    def chunks(self, text: str) -> list[str]:
        pieces = []
        start = 0
        size = self._chunk_chars
        while len(text) - start > size:
            boundary = _boundary(text, start + size)
            if boundary < 0:
                break
            pieces.append(text[start:boundary])
            start = boundary
        pieces.append(text[start:])
        return pieces


# Text with every kind of cut ``chunks`` makes: a space between two ASCII letters, after words of one and of
# several letters, lower and upper case, after punctuation further on.
_PROBE_TEXT = "You are a helpful assistant. Answer the Question in one short sentence, then stop here."


def cuts_are_transparent(encode: Encode) -> bool:
    """Whether cutting text where ``chunks`` cuts leaves ``encode``'s ids unchanged (checked at every such
    space of a probe text: the ids of the two halves, concatenated, against the whole text's)."""
    whole = list(encode(_PROBE_TEXT))
    space = _boundary(_PROBE_TEXT, 1)
    while space >= 0:
        if list(encode(_PROBE_TEXT[:space])) + list(encode(_PROBE_TEXT[space:])) != whole:
            return False
        space = _boundary(_PROBE_TEXT, space + 1)
    return True


def _boundary(text: str, position: int) -> int:
    """The first space between two ASCII letters at or after ``position`` (-1: none): spaces are found by
    ``str.find`` (memchr) and their neighbours checked, rather than a look-around tried at every character."""
    letters = _ASCII_LETTERS
    space = text.find(" ", position)
    while space >= 0:
        if space > 0 and text[space - 1] in letters and text[space + 1 : space + 2] in letters:
            return space
        space = text.find(" ", space + 1)
    return -1
