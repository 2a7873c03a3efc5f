"""How many tokens an answer runs: ``max_tokens`` with ``ignore_eos``, else a seeded log-normal draw
(at least ``min_tokens``, as vLLM suppresses EOS until then)."""

from __future__ import annotations

import math
import random

from sim.engine.sequence import FinishReason


class OutputLengthSampler:
    def __init__(self, median_tokens: float, sigma: float, rng: random.Random) -> None:
        self._mu = math.log(median_tokens)
        self._sigma = sigma
        self._rng = rng

    def sample(self, max_tokens: int, ignore_eos: bool, min_tokens: int = 0) -> tuple[int, FinishReason]:
        if ignore_eos:
            return max_tokens, FinishReason.LENGTH
        natural = max(1, min_tokens, round(self._rng.lognormvariate(self._mu, self._sigma)))
        if natural >= max_tokens:
            return max_tokens, FinishReason.LENGTH
        return natural, FinishReason.STOP
