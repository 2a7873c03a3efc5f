"""Piecewise tokenization with cached chunks gives exactly the tokens of the whole prompt."""

from __future__ import annotations

import random

import pytest
from picker.tokenization.approximate_tokenizer import ApproximateTokenizer
from picker.tokenization.chunk_cache import ChunkCache
from picker.tokenization.request_tokenizer import HuggingFaceTokenizer
from sim.tokenizer import ApproximateTokenizer as SimulatorTokenizer

from tests.picker.tokenization.tiny_tokenizer import build_tiny_tokenizer

ALPHABET = "abcdefghij  ABC\n\t.,é€😀\x00<|eot_id|>"


def random_texts(count: int, length: int) -> list[str]:
    rng = random.Random(5)
    return ["".join(rng.choice(ALPHABET) for _ in range(length)) for _ in range(count)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> HuggingFaceTokenizer:
    return HuggingFaceTokenizer(build_tiny_tokenizer(tmp_path_factory.mktemp("tiny")) / "tokenizer.json")


def test_the_approximate_tokenizer_equals_the_simulators() -> None:
    picker, simulator = ApproximateTokenizer(), SimulatorTokenizer()
    for text in random_texts(50, 300):
        assert picker.encode(text) == simulator.tokenize(text)


@pytest.mark.parametrize("which", ["approximate", "tokenizer.json"])
def test_chunked_tokens_equal_whole_tokens(which: str, tiny: HuggingFaceTokenizer) -> None:
    tokenizer = ApproximateTokenizer() if which == "approximate" else tiny
    cache = ChunkCache(lambda text: tokenizer.encode(text, add_special_tokens=False), chunk_chars=64)
    shared = " ".join(random.Random(1).choice(["pizza", "Menu", "order", "the", "x"]) for _ in range(200))
    texts = [shared + suffix for suffix in random_texts(5, 400)] + random_texts(5, 1000)
    for text in texts:
        assert len(cache.chunks(text)) > 1 or len(text) < 64
        assert cache.encode(text) == tokenizer.encode(text, add_special_tokens=False)


def test_special_tokens_wrap_the_prompt_once(tiny: HuggingFaceTokenizer) -> None:
    before, after = tiny.special_tokens_around()
    assert len(before) == 1 and after == []
    assert ApproximateTokenizer().special_tokens_around() == ([], [])


def test_a_shared_prefix_is_tokenized_once() -> None:
    calls: list[str] = []

    def encode(text: str) -> list[int]:
        calls.append(text)
        return ApproximateTokenizer().encode(text)

    cache = ChunkCache(encode, chunk_chars=32)
    shared = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron"
    cache.encode(shared + " first question")
    first_calls = len(calls)
    cache.encode(shared + " second question")
    assert len(calls) - first_calls == 1  # only the differing last chunk


def test_cached_key_steps_equal_keys_of_the_whole_prompt(tiny: HuggingFaceTokenizer) -> None:
    from picker.framework.types import InferenceRequest
    from picker.kvevents.block_keys import BlockKeyHasher
    from picker.kvevents.request_keys import RequestKeyCache
    from picker.tokenization.request_tokenizer import RequestTokenizer

    from chat_prompt import ChatTemplate

    tokenizer = RequestTokenizer(tiny, ChatTemplate())
    hasher = BlockKeyHasher(16)
    cache = RequestKeyCache(hasher)
    shared = " ".join(random.Random(2).choice(["pizza", "Menu", "order", "the"]) for _ in range(600))
    for index, suffix in enumerate(["", *random_texts(6, 500)]):
        prompt = shared + suffix
        request = InferenceRequest(f"r{index}", "m", "m", prompt, {"model": "m", "prompt": prompt})
        segments = tokenizer.segments(request)
        assert len(segments.chunks) > 2 and len(segments.prefix_ids) == 1
        expected = hasher.request_keys(tokenizer.token_ids(request), "sql", None, 100)
        assert cache.keys(hasher.root("sql", None), segments, tokenizer.chunk_tokens, 100) == expected
