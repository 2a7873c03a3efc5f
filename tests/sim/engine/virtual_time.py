"""Helpers for driving the engine in virtual time: requests with distinct prompts, and running to idle."""

from __future__ import annotations

from sim.clock import FakeClock
from sim.engine import Engine, EngineEvent, GenerationRequest, SequenceFinished


def request(
    request_id: str,
    prompt_len: int = 64,
    max_tokens: int = 32,
    first_token: int = 1000,
    lora: str | None = None,
    ignore_eos: bool = True,
    priority: int = 0,
) -> GenerationRequest:
    return GenerationRequest(
        request_id=request_id,
        prompt_token_ids=tuple(range(first_token, first_token + prompt_len)),
        max_tokens=max_tokens,
        ignore_eos=ignore_eos,
        lora_name=lora,
        priority=priority,
    )


def run_until_idle(engine: Engine, clock: FakeClock, max_steps: int = 100_000) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    for _ in range(max_steps):
        wakeup_s = engine.next_wakeup_s()
        if wakeup_s is None:
            return events
        clock.set(max(clock.now(), wakeup_s))
        events.extend(engine.advance(clock.now()))
    raise AssertionError("engine did not go idle")


def finished(events: list[EngineEvent]) -> dict[str, SequenceFinished]:
    return {e.request_id: e for e in events if isinstance(e, SequenceFinished)}
