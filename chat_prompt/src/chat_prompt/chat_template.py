"""Chat messages -> the prompt string a vLLM server tokenizes, by the server's rules.

With a Hugging Face chat template (Jinja, from ``tokenizer_config.json`` or vLLM's ``--chat-template``) it
renders as transformers' ``apply_chat_template`` does: a sandboxed Jinja environment with ``trim_blocks`` and
``lstrip_blocks``, and ``messages``, ``add_generation_prompt``, ``bos_token``, ``eos_token`` and
``raise_exception`` in scope. Without one it is the Llama 3 chat format (the simulator's built-in).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from chat_prompt.chat_template_error import ChatTemplateError
from chat_prompt.message_text import message_text
from chat_prompt.tokenizer_config import TokenizerConfig

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TURN = "<|eot_id|>"
# vLLM's test of a --chat-template value that is no file: template text has one of these, a path does not.
_TEMPLATE_CHARS = "{}\n"


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


class ChatTemplate:
    """A Jinja chat template, or the built-in Llama 3 format when ``source`` is None."""

    def __init__(self, source: str | None = None, bos_token: str = "", eos_token: str = "") -> None:
        self._template = None
        if source is not None:
            environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            environment.globals["raise_exception"] = _raise_exception
            environment.filters["tojson"] = lambda value, indent=None: json.dumps(value, indent=indent)
            try:
                self._template = environment.from_string(source)
            except TemplateError as error:
                raise ChatTemplateError(f"chat template does not compile: {error}") from error
        self.bos_token = bos_token
        self.eos_token = eos_token

    @classmethod
    def load(cls, tokenizer_dir: Path | None, chat_template: str | None = None) -> ChatTemplate:
        """vLLM's rules: ``chat_template`` (its ``--chat-template``: a file path, else the template text)
        wins over ``tokenizer_config.json``'s ``chat_template`` in ``tokenizer_dir``; with neither, the
        built-in Llama 3 format. BOS/EOS come from ``tokenizer_config.json`` either way."""
        config = TokenizerConfig.from_directory(tokenizer_dir)
        source = config.chat_template if chat_template is None else _template_text(chat_template)
        return cls(source, config.bos_token, config.eos_token)

    def render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
        """``messages`` as OpenAI's chat API has them (``role``; ``content`` a string or a list of parts)."""
        turns = [
            {"role": str(message.get("role", "")), "content": message_text(message.get("content"))}
            for message in messages
        ]
        if self._template is None:
            return _llama3(turns, add_generation_prompt)
        try:
            return self._template.render(
                messages=turns,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except TemplateError as error:
            raise ChatTemplateError(f"chat template failed: {error}") from error


def _template_text(chat_template: str) -> str:
    path = Path(chat_template)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if not any(char in chat_template for char in _TEMPLATE_CHARS):
        raise ChatTemplateError(
            f"chat template {chat_template!r} looks like a file path, but there is no such file; "
            "give an existing template file or the template text itself"
        )
    return chat_template


def _llama3(turns: Sequence[Mapping[str, str]], add_generation_prompt: bool) -> str:
    parts = [BEGIN_OF_TEXT]
    for turn in turns:
        parts.append(f"<|start_header_id|>{turn['role']}<|end_header_id|>\n\n{turn['content'].strip()}{END_OF_TURN}")
    if add_generation_prompt:
        parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)
