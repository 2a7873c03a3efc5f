"""Tokenizing long prompts piecewise, with the pieces cached: shared prefixes are tokenized once.

A prompt is cut at content-defined boundaries: the first single space between two ASCII letters at or
after every ``chunk_chars`` characters. Prompts that share a prefix are cut identically inside it, so its
pieces hit the cache. Cutting there does not change the tokens for tokenizers that split words before
merging (GPT-2/Llama 3 byte-level BPE, SentencePiece-style metaspace, the simulator's approximate
tokenizer): the space starts the next word's token either way. Special tokens the tokenizer adds (BOS) are
added once around the whole prompt.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable

_BOUNDARY = re.compile(r"(?<=[A-Za-z]) (?=[A-Za-z])")

Encode = Callable[[str], list[int]]


class ChunkCache:
    def __init__(self, encode: Encode, chunk_chars: int = 1024, capacity_chunks: int = 8192) -> None:
        if chunk_chars < 1 or capacity_chunks < 1:
            raise ValueError("chunk_chars and capacity_chunks must be >= 1")
        self._encode = encode
        self._chunk_chars = chunk_chars
        self._capacity = capacity_chunks
        self._chunks: OrderedDict[str, list[int]] = OrderedDict()

    def encode(self, text: str) -> list[int]:
        """Tokens of ``text`` without special tokens: the concatenated tokens of its chunks."""
        token_ids: list[int] = []
        for chunk in self.chunks(text):
            token_ids.extend(self.tokens(chunk))
        return token_ids

    def tokens(self, chunk: str) -> list[int]:
        """One chunk's tokens (cached; do not modify them)."""
        cached = self._chunks.get(chunk)
        if cached is None:
            cached = self._encode(chunk)
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
            boundary = _BOUNDARY.search(text, start + size)
            if boundary is None:
                break
            pieces.append(text[start : boundary.start()])
            start = boundary.start()
        pieces.append(text[start:])
        return pieces
