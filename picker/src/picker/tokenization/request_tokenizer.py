"""Token ids of a routed request, as its model server will compute them.

Completions: the ``prompt`` string (the first one of a batch) with the tokenizer's special tokens (vLLM's
default ``add_special_tokens=True``). Chat: the chat template's rendering, without adding special tokens again
(vLLM's chat default). Cached per request: a body routed twice (flow control, retries) is tokenized once.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from picker.framework.types import InferenceRequest
from picker.tokenization.approximate_tokenizer import ApproximateTokenizer
from picker.tokenization.chat_template import ChatTemplate, ChatTemplateError

_MEMO_CAPACITY = 4096


class TextTokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]: ...


class HuggingFaceTokenizer:
    """A ``tokenizer.json`` through the ``tokenizers`` library (what transformers' fast tokenizers run)."""

    def __init__(self, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer  # imported only when configured: the picker image may omit it

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids


class RequestTokenizer:
    def __init__(self, tokenizer: TextTokenizer, chat_template: ChatTemplate) -> None:
        self._tokenizer = tokenizer
        self._chat_template = chat_template
        self._memo: OrderedDict[tuple[int, str], list[int]] = OrderedDict()

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
            ChatTemplate.from_files(directory / "tokenizer_config.json", chat_template_file),
        )

    def token_ids(self, request: InferenceRequest) -> list[int]:
        """The request's prompt token ids; [] for a body this cannot tokenize (it then scores as uncached)."""
        key = (id(request), request.request_id)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        try:
            token_ids = self._encode(request)
        except ChatTemplateError:
            token_ids = []
        self._memo[key] = token_ids
        if len(self._memo) > _MEMO_CAPACITY:
            self._memo.popitem(last=False)
        return token_ids

    def _encode(self, request: InferenceRequest) -> list[int]:
        body = request.body
        messages = body.get("messages")
        if isinstance(messages, list):
            text = self._chat_template.render(messages, body.get("add_generation_prompt", True) is not False)
            return self._tokenizer.encode(text, add_special_tokens=False)
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = prompt[0] if prompt else ""
        return self._tokenizer.encode(prompt, add_special_tokens=True) if isinstance(prompt, str) else []
