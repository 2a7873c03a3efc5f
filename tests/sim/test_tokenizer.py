"""The approximate tokenizer: exact round trip, ~4 characters per token, 32-bit ids."""

from __future__ import annotations

import pytest
from sim.tokenizer import MAX_TOKEN_ID, ApproximateTokenizer, InvalidTokenError

TEXTS = [
    "What is the best pizza in the world?",
    "",
    "   leading and trailing   ",
    "line one\nline two\r\n\ttabbed",
    "héllo wörld, naïve café",
    "emoji 🍕🍕 and 漢字かな交じり文",
    "nul\x00inside\x00\x00",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "a" * 1000,
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_round_trip_is_exact(text: str) -> None:
    tokenizer = ApproximateTokenizer()
    token_ids = tokenizer.tokenize(text)
    assert tokenizer.detokenize(token_ids) == text
    assert all(0 <= token_id <= MAX_TOKEN_ID for token_id in token_ids)
    assert "".join(tokenizer.token_strings(token_ids)) == text


def test_english_is_about_four_characters_per_token() -> None:
    text = (
        "The gateway picks a model server replica for every request, using the queue length, the KV "
        "cache usage and which LoRA adapters each replica has loaded, so that latency stays low."
    )
    chars_per_token = len(text) / ApproximateTokenizer().count(text)
    assert 3.0 <= chars_per_token <= 5.0


def test_tokenization_is_deterministic_and_prefix_stable() -> None:
    tokenizer = ApproximateTokenizer()
    head = tokenizer.tokenize("You are a helpful assistant. ")
    full = tokenizer.tokenize("You are a helpful assistant. Tell me about pizza.")
    assert full[: len(head) - 1] == head[:-1]  # shared text gives shared tokens (up to the seam)
    assert tokenizer.tokenize("same text") == tokenizer.tokenize("same text")


@pytest.mark.parametrize("bad_id", [-1, MAX_TOKEN_ID + 1])
def test_ids_outside_the_range_are_rejected(bad_id: int) -> None:
    with pytest.raises(InvalidTokenError):
        ApproximateTokenizer().detokenize([bad_id])


@pytest.mark.parametrize("text", ["word " * 1000, "a" * 4000, "  " + "x" * 10 + " y" * 500], ids=range(3))
@pytest.mark.parametrize("limit", [0, 1, 7, 100])
def test_limit_returns_the_first_tokens_only(text: str, limit: int) -> None:
    tokenizer = ApproximateTokenizer()
    assert tokenizer.tokenize(text, limit=limit) == tokenizer.tokenize(text)[:limit]


def test_limit_above_the_count_changes_nothing() -> None:
    tokenizer = ApproximateTokenizer()
    text = TEXTS[0]
    assert tokenizer.tokenize(text, limit=10_000) == tokenizer.tokenize(text)
