"""One prefix group takes most of the traffic: affinity alone would pile it onto one replica."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench.workloads.base import WorkloadSpec
from bench.workloads.request import ChatMessage, RequestSpec
from bench.workloads.text import TextGenerator


class DominantPrefix(WorkloadSpec):
    """A share ``dominant_share`` of requests uses group 0's context; the rest spread over minor groups.

    This is the case where a purely cache-aware router loses to round-robin: the hot group's
    replica saturates while the others idle. A good router replicates the hot prefix instead.
    """

    kind: Literal["dominant-prefix"] = "dominant-prefix"
    dominant_share: float = Field(default=0.9, gt=0.0, le=1.0)
    minor_groups: int = Field(default=3, ge=0, le=1000)
    context_words: int = Field(default=1200, ge=1)
    question_words: int = Field(default=40, ge=1)

    def generate(self, seed: int) -> list[RequestSpec]:
        rng = self.rng(seed)
        text = TextGenerator(rng)
        contexts = [text.words(self.context_words) for _ in range(1 + self.minor_groups)]
        out: list[RequestSpec] = []
        for i in range(self.requests):
            hot = self.minor_groups == 0 or rng.random() < self.dominant_share
            group = 0 if hot else 1 + rng.randrange(self.minor_groups)
            out.append(RequestSpec(
                index=i, model=self.model, max_tokens=self.max_tokens, prefix_group=f"group-{group}",
                messages=(ChatMessage("system", contexts[group]),
                          ChatMessage("user", text.words(self.question_words))),
            ))
        return out
