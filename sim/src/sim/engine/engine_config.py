"""Scheduler and cache limits for one engine (the vLLM flags that shape scheduling)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.engine.waiting_queue import SchedulingPolicy
from sim.latency_profile import LatencyProfile


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: LatencyProfile
    max_num_seqs: int = Field(default=256, gt=0)
    max_num_batched_tokens: int = Field(default=8192, gt=0)
    block_size: int = Field(default=16, gt=0)
    num_gpu_blocks: int = Field(gt=0)
    max_model_len: int = Field(gt=0)
    max_loras: int = Field(default=1, ge=0)
    enable_prefix_caching: bool = True
    slowdown_factor: float = Field(default=1.0, ge=1.0)
    scheduling_policy: SchedulingPolicy = "fcfs"

    @model_validator(mode="after")
    def _step_budget_covers_a_full_batch(self) -> EngineConfig:
        # Every running sequence decodes one token per step, so the step budget must cover them all.
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be at least max_num_seqs "
                f"({self.max_num_seqs}); raise max_num_batched_tokens or lower max_num_seqs"
            )
        return self

    @model_validator(mode="after")
    def _context_fits_in_cache(self) -> EngineConfig:
        # vLLM refuses to start in the same case; here it also guarantees every admitted request fits.
        capacity_tokens = self.num_gpu_blocks * self.block_size
        if self.max_model_len > capacity_tokens:
            raise ValueError(
                f"max_model_len ({self.max_model_len}) exceeds the KV cache ({self.num_gpu_blocks} blocks x "
                f"{self.block_size} = {capacity_tokens} tokens); lower max_model_len or raise num_gpu_blocks"
            )
        return self
