"""A real model's tokenizer (``tokenizer.json``, run by the Hugging Face ``tokenizers`` library), behind the
same interface as :class:`sim.tokenizer.ApproximateTokenizer`: what vLLM's ``--tokenizer`` loads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer

from sim.tokenizer import InvalidTokenError

# A token spans at most this many characters in practice; tokenizing that many per allowed token is enough to
# tell that a prompt is over a limit without tokenizing all of a multi-MiB body.
_MAX_CHARS_PER_TOKEN = 64


class HuggingFaceTokenizer:
    def __init__(self, tokenizer_file: Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_directory(cls, directory: Path) -> HuggingFaceTokenizer:
        tokenizer_file = directory / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ValueError(
                f"tokenizer: {tokenizer_file} does not exist; point --tokenizer at a model directory"
            )
        return cls(tokenizer_file)

    def tokenize(self, text: str, limit: int | None = None, add_special_tokens: bool = True) -> list[int]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be non-negative, got {limit}")
        if limit is not None and len(text) > (limit + 1) * _MAX_CHARS_PER_TOKEN:
            head = self._tokenizer.encode(
                text[: (limit + 1) * _MAX_CHARS_PER_TOKEN], add_special_tokens=add_special_tokens
            )
            if len(head.ids) > limit:
                return head.ids[: limit + 1]
        ids = self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids
        return ids if limit is None else ids[: limit + 1] if len(ids) > limit else ids

    def detokenize(self, token_ids: Iterable[int]) -> str:
        ids = self._checked(token_ids)
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    def token_bytes(self, token_ids: Iterable[int]) -> bytes:
        return self.detokenize(token_ids).encode("utf-8")

    def token_strings(self, token_ids: Sequence[int]) -> list[str]:
        return [
            self._tokenizer.decode([token_id], skip_special_tokens=False)
            for token_id in self._checked(token_ids)
        ]

    def count(self, text: str) -> int:
        return len(self.tokenize(text))

    def _checked(self, token_ids: Iterable[int]) -> list[int]:
        ids = list(token_ids)
        for token_id in ids:
            if token_id < 0 or token_id >= self._vocab_size:
                raise InvalidTokenError(f"token id {token_id} is outside [0, {self._vocab_size - 1}]")
        return ids
