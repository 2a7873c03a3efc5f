"""The control: unrelated random prompts, so no router can gain from cache affinity."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench.workloads.base import WorkloadSpec
from bench.workloads.request import ChatMessage, RequestSpec
from bench.workloads.text import TextGenerator


class NoSharing(WorkloadSpec):
    """Every request is one user message of ``prompt_words`` fresh random words."""

    kind: Literal["no-sharing"] = "no-sharing"
    prompt_words: int = Field(default=600, ge=1)

    def generate(self, seed: int) -> list[RequestSpec]:
        text = TextGenerator(self.rng(seed))
        return [
            RequestSpec(index=i, model=self.model, max_tokens=self.max_tokens,
                        messages=(ChatMessage("user", text.words(self.prompt_words)),),
                        prefix_group=f"unique-{i}")
            for i in range(self.requests)
        ]
