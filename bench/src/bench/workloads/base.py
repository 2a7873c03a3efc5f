"""What every workload shares: the common knobs and the seeded-generation contract."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from pydantic import BaseModel, ConfigDict, Field

from bench.workloads.request import RequestSpec


class WorkloadSpec(BaseModel, ABC):
    """A workload's knobs. ``generate(seed)`` is a pure function of the spec and the seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(default="sim-model", description="Base model name sent in the request body.")
    requests: int = Field(default=400, ge=1, le=1_000_000, description="How many requests to generate.")
    max_tokens: int = Field(default=32, ge=1, le=8192, description="Output tokens per request (ignore_eos).")

    @abstractmethod
    def generate(self, seed: int) -> list[RequestSpec]:
        """The workload's requests in send order; identical for identical (spec, seed)."""

    def rng(self, seed: int) -> random.Random:
        # Mixing the kind into the seed keeps two workloads run with one seed from sharing text.
        return random.Random(f"{self.kind}:{seed}")  # type: ignore[attr-defined]
