"""The pure, clock-driven engine model: scheduling, KV blocks with prefix caching, LoRA slots."""

from __future__ import annotations

from sim.engine.engine import Engine, EngineStats, RequestRejected
from sim.engine.engine_config import EngineConfig
from sim.engine.sequence import (
    EngineEvent,
    FinishReason,
    GenerationRequest,
    SequenceFinished,
    SequencePreempted,
    SequenceResumed,
    SequenceScheduled,
    TokenGenerated,
)
from sim.engine.waiting_queue import SchedulingPolicy

__all__ = [
    "Engine",
    "EngineConfig",
    "EngineEvent",
    "EngineStats",
    "FinishReason",
    "GenerationRequest",
    "RequestRejected",
    "SchedulingPolicy",
    "SequenceFinished",
    "SequencePreempted",
    "SequenceResumed",
    "SequenceScheduled",
    "TokenGenerated",
]
