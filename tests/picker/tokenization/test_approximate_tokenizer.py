"""The picker's approximate tokenizer: the simulator's ids for every kind of text, and its bounded word cache."""

from __future__ import annotations

import random
from array import array

import pytest
from picker.tokenization import approximate_tokenizer
from picker.tokenization.approximate_tokenizer import ApproximateTokenizer
from sim.tokenizer import ApproximateTokenizer as SimulatorTokenizer

# Every ASCII character (each whitespace kind, NUL, the word separator the fast path uses) and some wider ones.
ALPHABET = "".join(map(chr, range(128))) + "aaaaeeee      " + "é€😀\u2028\xa0\x85\u3000"


def texts(count: int, longest: int, alphabet: str = ALPHABET) -> list[str]:
    rng = random.Random(11)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest))) for _ in range(count)]


@pytest.mark.parametrize(
    "alphabet",
    [ALPHABET, "abc \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00", "abcdefgh    ", "ab \x01"],
    ids=["any", "ascii-whitespace-and-nul", "letters-and-spaces", "with-separator"],
)
def test_ids_equal_the_simulators(alphabet: str) -> None:
    picker, simulator = ApproximateTokenizer(), SimulatorTokenizer()
    for text in texts(3000, 40, alphabet):
        assert picker.encode(text) == simulator.tokenize(text), repr(text)


def test_packed_ids_are_the_same_ids_in_an_array() -> None:
    tokenizer = ApproximateTokenizer()
    for text in texts(200, 80):
        packed = tokenizer.encode_packed(text)
        assert isinstance(packed, array) and packed.typecode == "I"
        assert packed.tolist() == tokenizer.encode(text)


def test_the_word_cache_fills_once_and_then_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approximate_tokenizer, "_WORD_CACHE_CAPACITY", 8)
    tokenizer, simulator = ApproximateTokenizer(), SimulatorTokenizer()
    first = " alpha beta gamma delta epsilon"
    assert tokenizer.encode(first) == simulator.tokenize(first)
    assert set(tokenizer._words) == {" alpha", " beta", " gamma", " delta", " epsilon"}
    # Filling may pass the capacity by one text's words, then nothing more is stored and nothing evicted.
    second = " zeta eta theta iota kappa lambda"
    third = " mu nu xi omicron pi rho alpha"
    for text in (second, third, second):
        assert tokenizer.encode(text) == simulator.tokenize(text)
    assert len(tokenizer._words) == 11
    assert " alpha" in tokenizer._words and " mu" not in tokenizer._words
    # A full cache serves what it holds and tokenizes the rest: the same ids either way.
    for text in texts(300, 60):
        assert tokenizer.encode(text) == simulator.tokenize(text)
    assert len(tokenizer._words) == 11
