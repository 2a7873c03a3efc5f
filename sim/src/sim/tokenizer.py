"""A deterministic, stateless stand-in for a BPE tokenizer: ~4 characters per token, exact round trip."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

MAX_PIECE_BYTES = 4
MAX_TOKEN_ID = 2 ** (8 * MAX_PIECE_BYTES) - 1

# A run of whitespace glued to the word after it, a trailing whitespace run, or a lone NUL.
_WORD = re.compile(r"\x00|\s*[^\s\x00]+|\s+")


class InvalidTokenError(ValueError):
    """A token id that no text encodes to (negative or wider than a piece)."""


class PromptTokenizer(Protocol):
    """What the simulator needs from a tokenizer (this approximate one or a real model's)."""

    def tokenize(self, text: str, limit: int | None = None, add_special_tokens: bool = True) -> list[int]: ...

    def detokenize(self, token_ids: Iterable[int]) -> str: ...

    def token_bytes(self, token_ids: Iterable[int]) -> bytes: ...

    def token_strings(self, token_ids: Sequence[int]) -> list[str]: ...

    def count(self, text: str) -> int: ...


class ApproximateTokenizer:
    """Byte-piece tokenizer with no vocabulary.

    Text is split into words with their leading whitespace (as GPT-style BPE does: " pizza"), and each word
    into pieces of at most 4 UTF-8 bytes on character boundaries. A piece's token id is its bytes read as a
    big-endian unsigned integer, so ids fit in 32 bits and ``detokenize(tokenize(text)) == text`` for every
    string. NUL characters are always single pieces, since a leading zero byte would vanish from the
    integer. English comes out at roughly 1.3 tokens per word, close to Llama 3; the ids are not Llama's.
    """

    def tokenize(self, text: str, limit: int | None = None, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; with ``limit``, only the first ``limit`` of them (no special tokens exist).

        The limit stops the work, not just the result: a server checking a context window needs at most
        max_model_len + 1 tokens to reject a prompt, and tokenizing all of a multi-MiB prompt on the event
        loop would stall every other request on the replica.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be non-negative, got {limit}")
        token_ids: list[int] = []
        for match in _WORD.finditer(text):
            budget = None if limit is None else limit - len(token_ids)
            if budget == 0:
                break
            token_ids.extend(self._pieces(match.group(), budget))
        return token_ids

    def detokenize(self, token_ids: Iterable[int]) -> str:
        return self.token_bytes(token_ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_ids: Iterable[int]) -> bytes:
        return b"".join(self.piece_bytes(token_id) for token_id in token_ids)

    def piece_bytes(self, token_id: int) -> bytes:
        if token_id < 0 or token_id > MAX_TOKEN_ID:
            raise InvalidTokenError(f"token id {token_id} is outside [0, {MAX_TOKEN_ID}]")
        if token_id == 0:
            return b"\x00"
        return token_id.to_bytes((token_id.bit_length() + 7) // 8, "big")

    def token_strings(self, token_ids: Sequence[int]) -> list[str]:
        return [self.piece_bytes(token_id).decode("utf-8", errors="replace") for token_id in token_ids]

    def count(self, text: str) -> int:
        return len(self.tokenize(text))

    @staticmethod
    def _pieces(word: str, limit: int | None = None) -> list[int]:
        """The word's pieces, at most ``limit`` of them (one word can be the whole multi-MiB prompt)."""
        pieces: list[int] = []
        current = bytearray()
        for char in word:
            encoded = char.encode("utf-8")
            if current and len(current) + len(encoded) > MAX_PIECE_BYTES:
                pieces.append(int.from_bytes(current, "big"))
                current = bytearray()
                if limit is not None and len(pieces) >= limit:
                    return pieces
            current.extend(encoded)
        if current:
            pieces.append(int.from_bytes(current, "big"))
        return pieces
