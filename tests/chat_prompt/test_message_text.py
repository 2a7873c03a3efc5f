"""message_text: a chat message's text from OpenAI's two content shapes."""

from __future__ import annotations

import pytest

from chat_prompt import ChatTemplateError, message_text


def test_a_string_is_the_text_and_none_is_empty() -> None:
    assert message_text("  as is ") == "  as is "
    assert message_text(None) == ""


def test_parts_join_their_text_parts_only() -> None:
    parts = [
        {"type": "text", "text": "Describe "},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "text", "text": "this."},
        "not a part",
    ]
    assert message_text(parts) == "Describe this."


def test_any_other_content_is_an_error_naming_its_type() -> None:
    with pytest.raises(ChatTemplateError, match="got dict"):
        message_text({"type": "text", "text": "x"})
