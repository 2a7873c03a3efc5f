"""inference-perf's ``shared_prefix`` data, in the bench's terms: groups of questions behind one system prompt."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench.workloads.base import WorkloadSpec
from bench.workloads.request import ChatMessage, RequestSpec
from bench.workloads.text import TextGenerator


class SharedPrefixQuestions(WorkloadSpec):
    """``groups`` system prompts of ``context_words`` words, each with ``questions_per_group`` questions of
    ``question_words`` words; the ``groups x questions_per_group`` prompts are shuffled once (seeded) and
    sent in that order, cycling, as inference-perf's shared-prefix generator does."""

    kind: Literal["shared-prefix-questions"] = "shared-prefix-questions"
    groups: int = Field(default=8, ge=1, le=10_000)
    questions_per_group: int = Field(default=16, ge=1, le=10_000)
    context_words: int = Field(default=2000, ge=1)
    question_words: int = Field(default=100, ge=1)

    def generate(self, seed: int) -> list[RequestSpec]:
        rng = self.rng(seed)
        text = TextGenerator(rng)
        prompts = []
        for group in range(self.groups):
            context = text.words(self.context_words)
            prompts += [(group, context, text.words(self.question_words)) for _ in range(self.questions_per_group)]
        rng.shuffle(prompts)
        out = []
        for i in range(self.requests):
            group, context, question = prompts[i % len(prompts)]
            out.append(RequestSpec(index=i, model=self.model, max_tokens=self.max_tokens, prefix_group=f"group-{group}",
                                   messages=(ChatMessage("system", context), ChatMessage("user", question))))
        return out
