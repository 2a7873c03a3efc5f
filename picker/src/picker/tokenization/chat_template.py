"""Chat messages -> the prompt string a vLLM server tokenizes, by the same rules as the server.

With a Hugging Face chat template (Jinja, from ``tokenizer_config.json`` or a ``--chat-template`` file) it
renders as transformers' ``apply_chat_template`` does: a sandboxed Jinja environment with ``trim_blocks`` and
``lstrip_blocks``, ``messages``, ``add_generation_prompt``, ``bos_token``, ``eos_token`` and
``raise_exception``. Without one it is the Llama 3 format the simulator renders by default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


class ChatTemplateError(ValueError):
    """The template is unusable or rejects the conversation."""


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(message)


def message_text(content: Any) -> str:
    """A message's text: a string, or the concatenated ``text`` of its text parts (OpenAI's two shapes)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    raise ChatTemplateError(
        f"message content must be a string or a list of parts, got {type(content).__name__}"
    )


class ChatTemplate:
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
    def from_files(cls, tokenizer_config: Path | None, template_file: Path | None) -> ChatTemplate:
        """``template_file`` wins; else ``chat_template`` of ``tokenizer_config.json``; else Llama 3."""
        config: Mapping[str, Any] = {}
        if tokenizer_config is not None and tokenizer_config.is_file():
            config = json.loads(tokenizer_config.read_text(encoding="utf-8"))
        source = (
            template_file.read_text(encoding="utf-8")
            if template_file is not None
            else config.get("chat_template")
        )
        return cls(source, _token_text(config.get("bos_token")), _token_text(config.get("eos_token")))

    def render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
        turns = [
            {"role": str(m.get("role", "")), "content": message_text(m.get("content"))} for m in messages
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


def _llama3(turns: Sequence[Mapping[str, str]], add_generation_prompt: bool) -> str:
    parts = ["<|begin_of_text|>"]
    for turn in turns:
        parts.append(
            f"<|start_header_id|>{turn['role']}<|end_header_id|>\n\n{turn['content'].strip()}<|eot_id|>"
        )
    if add_generation_prompt:
        parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(parts)


def _token_text(value: Any) -> str:
    """tokenizer_config.json spells special tokens as a string or as ``{"content": ...}``."""
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return value if isinstance(value, str) else ""
