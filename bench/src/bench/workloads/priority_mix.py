"""Priority mix: latency-critical traffic alongside sheddable batch traffic, offered above capacity."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench.workloads.base import WorkloadSpec
from bench.workloads.request import ChatMessage, RequestSpec
from bench.workloads.text import TextGenerator

OBJECTIVE_HEADER = "x-gateway-inference-objective"


class PriorityMix(WorkloadSpec):
    """A share ``critical_share`` of requests names the critical InferenceObjective, the rest the batch one.

    The objectives' priorities live in the gateway's config (batch < 0 makes it sheddable); the
    workload only sets ``x-gateway-inference-objective``. Routers that ignore the header treat both
    classes alike, which is exactly what the comparison shows.
    """

    kind: Literal["priority-mix"] = "priority-mix"
    critical_share: float = Field(default=0.3, gt=0.0, lt=1.0)
    critical_objective: str = Field(default="critical", min_length=1)
    sheddable_objective: str = Field(default="batch", min_length=1)
    critical_prompt_words: int = Field(default=200, ge=1)
    sheddable_prompt_words: int = Field(default=600, ge=1)

    def generate(self, seed: int) -> list[RequestSpec]:
        rng = self.rng(seed)
        text = TextGenerator(rng)
        out: list[RequestSpec] = []
        for i in range(self.requests):
            critical = rng.random() < self.critical_share
            objective = self.critical_objective if critical else self.sheddable_objective
            words = self.critical_prompt_words if critical else self.sheddable_prompt_words
            out.append(RequestSpec(
                index=i, model=self.model, max_tokens=self.max_tokens,
                messages=(ChatMessage("user", text.words(words)),),
                priority_class="critical" if critical else "sheddable",
                headers={OBJECTIVE_HEADER: objective}, prefix_group=f"unique-{i}",
            ))
        return out
