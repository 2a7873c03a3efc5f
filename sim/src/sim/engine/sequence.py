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
    priority: int = 0  # vLLM's: lower runs earlier; only the priority scheduling policy reads it


class SequenceStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    PREEMPTED = "preempted"  # back in the waiting queue, its KV freed: recomputed when scheduled again
    FINISHED = "finished"


@dataclass(slots=True, eq=False)
class Sequence:
    """One request inside the engine, counted the way vLLM V1 counts a ``Request``.

    ``num_tokens`` is every token known (prompt + output so far), ``num_computed_tokens`` how many of
    them have KV. A step computes ``num_tokens - num_computed_tokens`` of them (capped by the token
    budget): the prompt in chunks, then one token per step (the last one sampled). Computing the last
    known token samples the next one. Preemption sets ``num_computed_tokens`` back to 0.
    """

    request: GenerationRequest
    arrival_s: float
    target_output_tokens: int
    natural_finish: FinishReason
    block_hashes: list[bytes]
    arrival_order: int = 0  # breaks (priority, arrival) ties in submission order
    status: SequenceStatus = SequenceStatus.WAITING
    blocks: list[KVBlock] = field(default_factory=list)
    num_cached_tokens: int = 0  # prefix-cache hit when first scheduled
    num_computed_tokens: int = 0
    num_output_tokens: int = 0
    num_preemptions: int = 0
    num_lost_tokens: int = 0  # KV thrown away by the last preemption
    num_registered_blocks: int = 0  # leading blocks already published to the prefix cache
    scheduled_s: float | None = None
    first_token_s: float | None = None

    @property
    def num_prompt_tokens(self) -> int:
        return len(self.request.prompt_token_ids)

    @property
    def num_tokens(self) -> int:
        return self.num_prompt_tokens + self.num_output_tokens

    @property
    def is_decoding(self) -> bool:
        """Only the last sampled token is left to compute (a decode step, not a prefill)."""
        return self.num_output_tokens > 0 and self.num_computed_tokens == self.num_tokens - 1

    @property
    def priority_key(self) -> tuple[int, float, int]:
        """vLLM's order under ``--scheduling-policy priority``: lower priority value, then earlier arrival."""
        return (self.request.priority, self.arrival_s, self.arrival_order)


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
class SequencePreempted:
    """A running sequence lost its KV blocks to make room and went back to the waiting queue.

    ``num_computed_tokens`` is the KV thrown away: prefix-cache hits aside, it is computed again.
    """

    request_id: str
    time_s: float
    num_computed_tokens: int


@dataclass(frozen=True, slots=True)
class SequenceResumed:
    """A preempted sequence was scheduled again; ``num_cached_tokens`` of its KV survived in the cache."""

    request_id: str
    time_s: float
    num_cached_tokens: int
    num_recomputed_tokens: int  # KV lost to the preemption that the cache did not keep


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
    num_preemptions: int = 0


EngineEvent = SequenceScheduled | SequencePreempted | SequenceResumed | TokenGenerated | SequenceFinished
