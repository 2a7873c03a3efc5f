"""Piecewise tokenization with cached chunks gives exactly the tokens of the whole prompt."""

from __future__ import annotations

import random

import pytest
from picker.tokenization.approximate_tokenizer import ApproximateTokenizer
from picker.tokenization.chunk_cache import ChunkCache, cuts_are_transparent
from picker.tokenization.request_tokenizer import HuggingFaceTokenizer
from sim.tokenizer import ApproximateTokenizer as SimulatorTokenizer

from tests.picker.tokenization.tiny_tokenizer import build_prepending_tokenizer, build_tiny_tokenizer

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


def test_packed_ids_are_the_plain_ids(tiny: HuggingFaceTokenizer) -> None:
    for text in random_texts(30, 400):
        assert list(tiny.encode_packed(text)) == tiny.encode(text, add_special_tokens=False)
        assert list(ApproximateTokenizer().encode_packed(text)) == ApproximateTokenizer().encode(text)


def test_the_chunk_cache_keeps_a_packed_array_as_given() -> None:
    from array import array

    encoded = array("I", [1, 2, 3])
    cache = ChunkCache(lambda text: encoded)
    assert cache.tokens("abc") is encoded
    assert ChunkCache(lambda text: [1, 2]).tokens("abc") == array("I", [1, 2])
    assert ChunkCache(lambda text: [2**40]).tokens("abc") == (2**40,)  # not an id a vocabulary has


def test_a_body_routed_twice_is_tokenized_once_and_a_resent_body_hits_the_chunks() -> None:
    from picker.framework.types import InferenceRequest
    from picker.tokenization.request_tokenizer import RequestTokenizer

    from chat_prompt import ChatTemplate

    class CountingTokenizer(ApproximateTokenizer):
        def __init__(self) -> None:
            super().__init__()
            self.texts: list[str] = []

        def encode_packed(self, text: str):  # type: ignore[no-untyped-def]
            self.texts.append(text)
            return super().encode_packed(text)

    counting = CountingTokenizer()
    tokenizer = RequestTokenizer(counting, ChatTemplate())
    prompt = " ".join(random_texts(1, 5000))
    first = InferenceRequest("r", "m", "m", prompt, {"model": "m", "prompt": prompt})
    tokens = tokenizer.token_ids(first)
    chunks = len(counting.texts)
    assert chunks > 2
    assert tokenizer.token_ids(first) == tokens and tokenizer.segments(first) is tokenizer.segments(first)
    resent = InferenceRequest("r", "m", "m", prompt, {"model": "m", "prompt": prompt})  # a retry: a new stream
    assert tokenizer.token_ids(resent) == tokens
    assert len(counting.texts) == chunks  # nothing tokenized again


def test_chunks_end_before_the_first_space_between_letters_after_each_chunk_size() -> None:
    import re

    boundary = re.compile(r"(?<=[A-Za-z]) (?=[A-Za-z])")
    rng = random.Random(3)
    for _ in range(3000):
        size = rng.randint(1, 12)
        text = "".join(rng.choice("ab Z9 .\n é") for _ in range(rng.randint(0, 60)))
        expected, start = [], 0
        while len(text) - start > size and (found := boundary.search(text, start + size)) is not None:
            expected.append(text[start : found.start()])
            start = found.start()
        expected.append(text[start:])
        assert ChunkCache(lambda chunk: [], chunk_chars=size).chunks(text) == expected, (text, size)


def test_a_tokenizer_that_marks_every_text_start_is_not_cut(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    from picker.framework.types import InferenceRequest
    from picker.tokenization.request_tokenizer import RequestTokenizer

    from chat_prompt import ChatTemplate

    prepending = HuggingFaceTokenizer(build_prepending_tokenizer(tmp_path) / "tokenizer.json")
    assert not cuts_are_transparent(prepending.encode_packed)
    with caplog.at_level("WARNING"):
        tokenizer = RequestTokenizer(prepending, ChatTemplate())
    assert "tokenized whole" in caplog.text
    prompt = " ".join(["the quick brown fox jumps over the lazy dog"] * 200)  # many chunks' worth
    request = InferenceRequest("r", "m", "m", prompt, {"model": "m", "prompt": prompt})
    assert tokenizer.token_ids(request) == prepending.encode(prompt)  # cut at 1,024 characters it differs
    cut = ChunkCache(prepending.encode_packed)
    assert len(cut.chunks(prompt)) > 1 and cut.encode(prompt) != prepending.encode(prompt, add_special_tokens=False)


def test_tokenizers_that_split_words_first_are_cut(tiny: HuggingFaceTokenizer) -> None:
    assert cuts_are_transparent(tiny.encode_packed)
    assert cuts_are_transparent(ApproximateTokenizer().encode_packed)
