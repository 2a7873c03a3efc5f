"""Seeded filler text: pronounceable pseudo-words, so prompts tokenize like prose and never collide by chance."""

from __future__ import annotations

import random

_ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
           "br", "ch", "dr", "gr", "pl", "sh", "st", "th", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou")
_CODAS = ("", "", "n", "r", "s", "t", "l", "m", "nd", "st")


class TextGenerator:
    """Makes word sequences from an injected RNG; the same RNG state always gives the same text."""

    def __init__(self, rng: random.Random, vocabulary_size: int = 4096) -> None:
        if vocabulary_size < 16:
            raise ValueError(f"vocabulary_size must be >= 16, got {vocabulary_size}")
        self._rng = rng
        vocabulary: set[str] = set()
        # A fixed vocabulary (rather than fresh syllables per word) keeps the token/word ratio stable
        # across workloads, which the analytical bound and the size knobs rely on.
        while len(vocabulary) < vocabulary_size:
            syllables = rng.randint(1, 3)
            vocabulary.add("".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                                   for _ in range(syllables)))
        self._vocabulary = sorted(vocabulary)

    def words(self, count: int) -> str:
        """``count`` space-separated words, with a full stop every 8-20 words."""
        if count <= 0:
            return ""
        out = self._rng.choices(self._vocabulary, k=count)
        position = self._rng.randint(8, 20) - 1
        while position < count:
            out[position] += "."
            position += self._rng.randint(8, 20)
        return " ".join(out)
