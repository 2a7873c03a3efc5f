"""Multi-LoRA mix: requests name adapters with a skewed split (60/30/10 by default)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bench.workloads.base import WorkloadSpec
from bench.workloads.request import ChatMessage, RequestSpec
from bench.workloads.text import TextGenerator


class MultiLora(WorkloadSpec):
    """Each request's ``model`` is a LoRA adapter drawn by weight; prompts are unrelated.

    The fleet must serve these adapters (the simulator's ``lora_modules``); replicas hold only
    ``max_loras`` at once, so the win comes from routing to a replica that already has the adapter.
    """

    kind: Literal["multi-lora"] = "multi-lora"
    adapters: dict[str, float] = Field(
        default_factory=lambda: {"lora-hot": 60.0, "lora-warm": 30.0, "lora-cold": 10.0},
        description="Adapter name -> relative weight.",
    )
    prompt_words: int = Field(default=300, ge=1)

    @field_validator("adapters")
    @classmethod
    def _weights_positive(cls, adapters: dict[str, float]) -> dict[str, float]:
        if not adapters:
            raise ValueError("adapters must name at least one adapter, e.g. {'lora-hot': 60}")
        bad = [name for name, weight in adapters.items() if weight <= 0]
        if bad:
            raise ValueError(f"adapter weights must be > 0; fix {bad}")
        return adapters

    def generate(self, seed: int) -> list[RequestSpec]:
        rng = self.rng(seed)
        text = TextGenerator(rng)
        names = sorted(self.adapters)
        weights = [self.adapters[name] for name in names]
        out: list[RequestSpec] = []
        for i in range(self.requests):
            adapter = rng.choices(names, weights)[0]
            out.append(RequestSpec(
                index=i, model=adapter, max_tokens=self.max_tokens, prefix_group=adapter,
                messages=(ChatMessage("user", text.words(self.prompt_words)),),
            ))
        return out
