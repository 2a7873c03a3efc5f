"""What a model's ``tokenizer_config.json`` says about its chat prompt: the Jinja ``chat_template`` and the
``bos_token`` / ``eos_token`` the template may write."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat_prompt.chat_template_error import ChatTemplateError

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


@dataclass(frozen=True, slots=True)
class TokenizerConfig:
    chat_template: str | None = None
    bos_token: str = ""
    eos_token: str = ""

    @classmethod
    def from_directory(cls, directory: Path | None) -> TokenizerConfig:
        """``directory/tokenizer_config.json``; empty when there is no directory or no such file (a model
        without a chat template: chat uses the built-in Llama 3 format)."""
        config_file = directory / TOKENIZER_CONFIG_FILE if directory is not None else None
        if config_file is None or not config_file.is_file():
            return cls()
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ChatTemplateError(f"{config_file} is not JSON: {error}") from error
        if not isinstance(config, dict):
            raise ChatTemplateError(f"{config_file} must hold a JSON object, got {type(config).__name__}")
        return cls(
            _default_template(config.get("chat_template"), config_file),
            _token_text(config.get("bos_token")),
            _token_text(config.get("eos_token")),
        )


def _default_template(value: Any, config_file: Path) -> str | None:
    """A template string, or from a list of named templates the one named ``default`` (transformers' pick for
    a conversation without tools)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        named = {entry.get("name"): entry.get("template") for entry in value if isinstance(entry, dict)}
        template = named.get("default")
        if isinstance(template, str):
            return template
        raise ChatTemplateError(
            f"{config_file}: chat_template lists templates {sorted(map(str, named))} but none named 'default'; "
            "pass the one to use as the chat template"
        )
    raise ChatTemplateError(
        f"{config_file}: chat_template must be a string or a list of named templates, got {type(value).__name__}"
    )


def _token_text(value: Any) -> str:
    """tokenizer_config.json spells a special token as a string or as ``{"content": ...}``."""
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return value if isinstance(value, str) else ""
