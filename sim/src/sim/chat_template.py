"""Renders chat messages into one prompt string, as vLLM does before tokenizing.

By default in the Llama 3 chat format (the simulator's built-in). With a Hugging Face chat template (Jinja,
from ``tokenizer_config.json`` next to ``tokenizer.json`` or from ``--chat-template``) it renders the way
transformers' ``apply_chat_template`` does: a sandboxed Jinja environment with ``trim_blocks`` and
``lstrip_blocks``, and ``messages``, ``add_generation_prompt``, ``bos_token``, ``eos_token`` and
``raise_exception`` in scope.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TURN = "<|eot_id|>"


class ChatTurn(Protocol):
    @property
    def role(self) -> str: ...

    def text(self) -> str: ...


class ChatTemplateError(ValueError):
    """The template does not compile, or rejects a conversation (its ``raise_exception``)."""


def render_chat_prompt(messages: Sequence[ChatTurn], add_generation_prompt: bool = True) -> str:
    parts = [BEGIN_OF_TEXT]
    for message in messages:
        parts.append(_header(message.role))
        parts.append(message.text().strip())
        parts.append(END_OF_TURN)
    if add_generation_prompt:
        parts.append(_header("assistant"))
    return "".join(parts)


def _header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


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
            except TemplateError as err:
                raise ChatTemplateError(f"chat template does not compile: {err}") from err
        self._bos_token = bos_token
        self._eos_token = eos_token

    @classmethod
    def load(cls, tokenizer_dir: Path | None, chat_template: str | None) -> ChatTemplate:
        """vLLM's rules: ``--chat-template`` (a file path, else the template text itself) wins over the
        tokenizer's ``chat_template``; with neither, the built-in Llama 3 format."""
        config: dict[str, Any] = {}
        config_file = tokenizer_dir / "tokenizer_config.json" if tokenizer_dir is not None else None
        if config_file is not None and config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
        source = config.get("chat_template")
        if chat_template is not None:
            path = Path(chat_template)
            source = path.read_text(encoding="utf-8") if path.is_file() else chat_template
        return cls(source, _token_text(config.get("bos_token")), _token_text(config.get("eos_token")))

    def render(self, messages: Sequence[ChatTurn], add_generation_prompt: bool = True) -> str:
        if self._template is None:
            return render_chat_prompt(messages, add_generation_prompt)
        try:
            return self._template.render(
                messages=[{"role": message.role, "content": message.text()} for message in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self._bos_token,
                eos_token=self._eos_token,
            )
        except TemplateError as err:
            raise ChatTemplateError(f"chat template failed: {err}") from err


def _token_text(value: Any) -> str:
    """tokenizer_config.json spells a special token as a string or as ``{"content": ...}``."""
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return value if isinstance(value, str) else ""
