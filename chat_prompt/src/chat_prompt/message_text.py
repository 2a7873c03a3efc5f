"""A chat message's text, from OpenAI's two content shapes."""

from __future__ import annotations

from typing import Any

from chat_prompt.chat_template_error import ChatTemplateError


def message_text(content: Any) -> str:
    """A string as is; a list of parts as the concatenated ``text`` of its ``"type": "text"`` parts; None as
    the empty string."""
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
