"""What the engine is asked to run (``GenerationRequest``), its state while running, and what it reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sim.engine.kv_block_pool import KVBlock


class FinishReason(enum.StrEnum):
    STOP = "stop"
    LENGTH = "length"
    ABORT = "abort"


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One prompt to generate from. ``max_tokens`` is already resolved (never None)."""

    request_id: str
    prompt_token_ids: tuple[int, ...]
    max_tokens: int
    ignore_eos: bool = False
    min_tokens: int = 0
    stop_at_tokens: int | None = None  # a stop string completes at this token (found by the API layer)
    lora_name: str | None = None
    cache_salt: str | None = None


class SequenceStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(slots=True, eq=False)
class Sequence:
    request: GenerationRequest
    arrival_s: float
    target_output_tokens: int
    natural_finish: FinishReason
    block_hashes: list[bytes]
    status: SequenceStatus = SequenceStatus.WAITING
    blocks: list[KVBlock] = field(default_factory=list)
    reserved_blocks: int = 0
    num_cached_tokens: int = 0
    num_computed_prompt_tokens: int = 0
    num_output_tokens: int = 0
    scheduled_s: float | None = None
    first_token_s: float | None = None

    @property
    def num_prompt_tokens(self) -> int:
        return len(self.request.prompt_token_ids)

    @property
    def prefill_done(self) -> bool:
        return self.num_computed_prompt_tokens >= self.num_prompt_tokens

    @property
    def num_tokens(self) -> int:
        return self.num_computed_prompt_tokens + self.num_output_tokens


@dataclass(frozen=True, slots=True)
class SequenceScheduled:
    """The sequence left the waiting queue: KV blocks (and any adapter) are in place."""

    request_id: str
    time_s: float
    queue_time_s: float
    num_prompt_tokens: int
    num_cached_tokens: int
    lora_name: str | None


@dataclass(frozen=True, slots=True)
class TokenGenerated:
    """One more output token exists; ``num_output_tokens`` counts all so far."""

    request_id: str
    time_s: float
    num_output_tokens: int


@dataclass(frozen=True, slots=True)
class SequenceFinished:
    request_id: str
    time_s: float
    finish_reason: FinishReason
    arrival_s: float
    first_token_s: float | None
    num_prompt_tokens: int
    num_cached_tokens: int
    num_output_tokens: int


EngineEvent = SequenceScheduled | TokenGenerated | SequenceFinished
