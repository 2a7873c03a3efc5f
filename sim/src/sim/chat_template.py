"""Renders chat messages into one prompt string in the Llama 3 chat format, as vLLM's template would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TURN = "<|eot_id|>"


class ChatTurn(Protocol):
    @property
    def role(self) -> str: ...

    def text(self) -> str: ...


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
