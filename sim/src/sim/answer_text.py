"""The words a simulated answer is made of: a fixed passage (``random`` mode) or the prompt (``echo``)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sim.tokenizer import PromptTokenizer

PASSAGE = (
    "A good pizza starts with the dough: flour, water, salt and yeast, left to rise slowly so the crust "
    "turns light and blistered in a hot oven. The sauce should taste of ripe tomatoes rather than sugar, "
    "and the cheese should melt without pooling. Naples keeps the old rules, New York folds its slices, "
    "Chicago bakes them deep, and every town claims the best one is around the corner. The honest answer "
    "is the pizza you share with friends while it is still too hot to eat. "
)


class AnswerPieces:
    """The text of output token ``i``, for any ``i``."""

    def __init__(self, source: Sequence[str], offset: int) -> None:
        self._source = source
        self._offset = offset

    def __getitem__(self, index: int) -> str:
        return self._source[(self._offset + index) % len(self._source)]

    def text(self, count: int) -> str:
        return "".join(self[index] for index in range(count))

    def first_stop(self, stops: Sequence[str], max_tokens: int) -> StopMatch | None:
        """Where the answer first contains one of ``stops``, if within ``max_tokens`` tokens.

        The source repeats, so looking one period plus the longest stop string ahead is enough.
        """
        stops = [stop for stop in stops if stop]
        if not stops:
            return None
        horizon = min(max_tokens, len(self._source) + max(map(len, stops)) + 1)
        text = ""
        for index in range(horizon):
            searched_from = len(text)
            text += self[index]
            found = [
                (position, stop)
                for stop in stops
                if (position := text.find(stop, max(0, searched_from - len(stop) + 1))) >= 0
            ]
            if found:
                position, stop = min(found)
                return StopMatch(tokens=index + 1, visible_chars=position, stop=stop)
        return None


@dataclass(frozen=True, slots=True)
class StopMatch:
    """The answer ends after ``tokens`` tokens; only its first ``visible_chars`` characters are shown."""

    tokens: int
    visible_chars: int
    stop: str


class AnswerText:
    """Chooses each answer's source and starting point.

    Output token ``i`` is piece ``offset + i`` of the source, cycling, so the text of an N-token answer is
    exactly N tokenizer pieces and streaming sends one piece per token. The offset comes from the request's
    ``seed`` when given, from the prompt when ``temperature`` is 0 (greedy: same prompt, same answer), else
    from the replica's seeded RNG; echo starts at the prompt's first piece.
    """

    def __init__(self, tokenizer: PromptTokenizer, rng: random.Random) -> None:
        self._tokenizer = tokenizer
        self._passage = tokenizer.token_strings(tokenizer.tokenize(PASSAGE))
        self._rng = rng

    def start(
        self, echo_source: str | None = None, seed: int | None = None, greedy_key: bytes | None = None
    ) -> AnswerPieces:
        """Pick the answer: echo, else seeded by the request, else (greedy) by the prompt, else random."""
        if echo_source:
            echo = self._tokenizer.token_strings(self._tokenizer.tokenize(echo_source))
            if echo:
                return AnswerPieces(echo, 0)
        if seed is not None:
            return AnswerPieces(self._passage, random.Random(seed).randrange(len(self._passage)))
        if greedy_key is not None:
            # temperature 0: the same prompt gets the same answer, as greedy decoding would give.
            return AnswerPieces(self._passage, zlib.crc32(greedy_key) % len(self._passage))
        return AnswerPieces(self._passage, self._rng.randrange(len(self._passage)))
