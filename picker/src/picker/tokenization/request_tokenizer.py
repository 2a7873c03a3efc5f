"""Token ids of a routed request, as its model server will compute them.

Completions: the ``prompt`` string (the first one of a batch) with the tokenizer's special tokens (vLLM's
default ``add_special_tokens=True``). Chat: the chat template's rendering, without adding special tokens again
(vLLM's chat default). Cached per request (a body routed twice is tokenized once) and per prompt chunk
(``ChunkCache``: a shared prefix is tokenized once across requests).
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chat_prompt import ChatTemplate, ChatTemplateError
from picker.framework.types import InferenceRequest
from picker.tokenization.approximate_tokenizer import ApproximateTokenizer
from picker.tokenization.chunk_cache import ChunkCache, cuts_are_transparent

logger = logging.getLogger(__name__)
_MEMO_CAPACITY = 4096


class TextTokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]: ...

    def encode_packed(self, text: str) -> Sequence[int]:
        """The text's ids without special tokens, the cheapest way this tokenizer gives them (``ChunkCache``
        keeps an ``array('I')`` as it is)."""
        ...

    def special_tokens_around(self) -> tuple[list[int], list[int]]:
        """The ids ``add_special_tokens=True`` puts before and after a text's own tokens."""
        ...


@dataclass(frozen=True, slots=True)
class PromptSegments:
    """A prompt as the server tokenizes it: special tokens added around it, and its text in chunks whose
    tokens concatenate to the text's tokens (``ChunkCache``)."""

    prefix_ids: tuple[int, ...]
    chunks: tuple[str, ...]
    suffix_ids: tuple[int, ...]


class HuggingFaceTokenizer:
    """A ``tokenizer.json`` through the ``tokenizers`` library (what transformers' fast tokenizers run)."""

    def __init__(self, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer  # imported only when configured: the picker image may omit it

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def encode_packed(self, text: str) -> list[int]:
        # The same ids without character offsets (which encode() tracks through every normalisation and
        # pre-tokenization step): about a third less CPU on byte-level BPE. One input runs on this thread.
        return self._tokenizer.encode_batch_fast([text], add_special_tokens=False)[0].ids

    def special_tokens_around(self) -> tuple[list[int], list[int]]:
        plain = self.encode("a", add_special_tokens=False)
        full = self.encode("a", add_special_tokens=True)
        start = next(i for i in range(len(full)) if full[i : i + len(plain)] == plain)
        return full[:start], full[start + len(plain) :]


class RequestTokenizer:
    def __init__(self, tokenizer: TextTokenizer, chat_template: ChatTemplate) -> None:
        self._tokenizer = tokenizer
        self._chat_template = chat_template
        if cuts_are_transparent(tokenizer.encode_packed):
            self._chunks = ChunkCache(tokenizer.encode_packed)
        else:
            logger.warning(
                "this tokenizer does not give a text's tokens when the text is cut between words (its "
                "normalizer marks the start of every text it is given): prompts are tokenized whole, and "
                "only a whole prompt seen before comes from the cache"
            )
            self._chunks = ChunkCache(tokenizer.encode_packed, chunk_chars=sys.maxsize)
        prefix_ids, suffix_ids = tokenizer.special_tokens_around()
        self._prefix_ids, self._suffix_ids = tuple(prefix_ids), tuple(suffix_ids)
        self._memo: OrderedDict[tuple[int, str], PromptSegments] = OrderedDict()

    @classmethod
    def approximate(cls) -> RequestTokenizer:
        """The simulator's default tokenizer and Llama 3 chat format."""
        return cls(ApproximateTokenizer(), ChatTemplate())

    @classmethod
    def from_directory(cls, directory: Path, chat_template_file: Path | None = None) -> RequestTokenizer:
        """``tokenizer.json`` (+ ``tokenizer_config.json`` for the chat template and BOS/EOS) in ``directory``."""
        tokenizer_file = directory / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ValueError(
                f"{tokenizer_file} does not exist; point tokenizer.path at a model's tokenizer files"
            )
        return cls(
            HuggingFaceTokenizer(tokenizer_file),
            ChatTemplate.load(directory, str(chat_template_file) if chat_template_file is not None else None),
        )

    def segments(self, request: InferenceRequest) -> PromptSegments:
        """The request's prompt as special-token ids and text chunks (memoised per request); no chunks for
        a body this cannot tokenize (it then scores as uncached)."""
        key = (id(request), request.request_id)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        try:
            segments = self._segments(request)
        except ChatTemplateError:
            segments = PromptSegments((), (), ())
        self._memo[key] = segments
        if len(self._memo) > _MEMO_CAPACITY:
            self._memo.popitem(last=False)
        return segments

    def chunk_tokens(self, chunk: str) -> Sequence[int]:
        """One chunk's token ids (cached across requests; do not modify them)."""
        return self._chunks.tokens(chunk)

    def token_ids(self, request: InferenceRequest) -> list[int]:
        """The request's prompt token ids, as its model server computes them."""
        segments = self.segments(request)
        token_ids = list(segments.prefix_ids)
        for chunk in segments.chunks:
            token_ids.extend(self._chunks.tokens(chunk))
        token_ids.extend(segments.suffix_ids)
        return token_ids

    def _segments(self, request: InferenceRequest) -> PromptSegments:
        body = request.body
        messages = body.get("messages")
        if isinstance(messages, list):
            text = self._chat_template.render(messages, body.get("add_generation_prompt", True) is not False)
            return PromptSegments((), tuple(self._chunks.chunks(text)), ())
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = prompt[0] if prompt else ""
        if not isinstance(prompt, str):
            return PromptSegments((), (), ())
        return PromptSegments(self._prefix_ids, tuple(self._chunks.chunks(prompt)), self._suffix_ids)
