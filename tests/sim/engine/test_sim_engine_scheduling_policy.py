"""vLLM V1's two scheduling policies in virtual time: queue order, preemption victims, recomputation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from sim.clock import FakeClock
from sim.engine import (
    Engine,
    EngineEvent,
    GenerationRequest,
    SequenceFinished,
    SequencePreempted,
    SequenceResumed,
    SequenceScheduled,
    TokenGenerated,
)

from tests.sim.engine.virtual_time import request as base_request
from tests.sim.engine.virtual_time import run_until_idle

MakeEngine = Callable[..., Engine]
EventT = TypeVar("EventT")


def request(
    request_id: str, priority: int = 0, prompt_len: int = 64, max_tokens: int = 32, first_token: int = 1000
) -> GenerationRequest:
    return base_request(request_id, prompt_len, max_tokens, first_token, priority=priority)


def of_type(events: list[EngineEvent], kind: type[EventT]) -> list[EventT]:
    return [event for event in events if isinstance(event, kind)]


def scheduling_order(events: list[EngineEvent]) -> list[str]:
    return [event.request_id for event in of_type(events, SequenceScheduled)]


def queue_behind_one_slot(make_engine: MakeEngine, policy: str) -> list[str]:
    """One sequence slot, taken at t=0; three more arrive 1 ms apart with different priorities."""
    engine, clock = make_engine(max_num_seqs=1, scheduling_policy=policy), FakeClock()
    events: list[EngineEvent] = []
    engine.submit(request("first", first_token=0), clock.now())
    for index, (name, priority) in enumerate([("low", 5), ("high", -1), ("high-later", -1)], start=1):
        clock.set(index * 0.001)
        events.extend(engine.advance(clock.now()))
        engine.submit(request(name, priority, first_token=index * 1000), clock.now())
    return scheduling_order(events + run_until_idle(engine, clock))


def test_priority_policy_orders_the_waiting_queue_by_priority_then_arrival(make_engine: MakeEngine) -> None:
    assert queue_behind_one_slot(make_engine, "priority") == ["first", "high", "high-later", "low"]


def test_fcfs_policy_ignores_priority(make_engine: MakeEngine) -> None:
    assert queue_behind_one_slot(make_engine, "fcfs") == ["first", "low", "high", "high-later"]


def three_growing_sequences(
    make_engine: MakeEngine, policy: str, priorities: tuple[int, int, int]
) -> tuple[Engine, FakeClock, list[EngineEvent]]:
    """A, B, C (4 blocks of prompt each) start one step apart in 40 blocks, so they run in that order
    with A one token ahead of B and B one ahead of C. Each would grow to 17 blocks: the pool runs dry
    when B needs its 14th block (A just took the last one)."""
    engine = make_engine(num_gpu_blocks=40, max_model_len=640, max_num_seqs=3, scheduling_policy=policy)
    clock, events = FakeClock(), []
    for index, (name, priority, arrival_s) in enumerate(
        zip("ABC", priorities, (0, 0.001, 0.009), strict=True)
    ):
        clock.set(arrival_s)
        events += engine.advance(clock.now())
        engine.submit(request(name, priority, max_tokens=200, first_token=index * 1000), clock.now())
    clock.set(0.02)
    events += engine.advance(clock.now())
    assert scheduling_order(events) == ["A", "B", "C"]
    return engine, clock, events


@pytest.mark.parametrize(
    ("policy", "priorities", "victim"),
    [
        # The victim is the lowest-priority running sequence: A, already scheduled in this step (it
        # gives its tokens back), not B (which needs the block) and not C (the last admitted).
        ("priority", (5, 0, 1), "A"),
        ("priority", (0, 5, 1), "B"),  # B is the lowest priority itself: it preempts itself
        ("priority", (0, 0, 0), "C"),  # equal priorities: the latest arrival
        ("fcfs", (5, 0, 1), "C"),  # fcfs: always the last admitted, whatever the priorities
    ],
)
def test_preemption_victim_is_the_largest_priority_then_latest_arrival(
    make_engine: MakeEngine, policy: str, priorities: tuple[int, int, int], victim: str
) -> None:
    engine, clock, events = three_growing_sequences(make_engine, policy, priorities)
    events += run_until_idle(engine, clock)
    preempted = of_type(events, SequencePreempted)
    assert preempted and preempted[0].request_id == victim
    done = {e.request_id: e for e in of_type(events, SequenceFinished)}
    assert {name: done[name].num_output_tokens for name in "ABC"} == {"A": 200, "B": 200, "C": 200}
    assert done[victim].num_preemptions >= 1


def test_preemption_only_when_a_running_sequence_cannot_get_blocks(make_engine: MakeEngine) -> None:
    # The same three sequences in 60 blocks: everything fits, nothing is preempted.
    engine = make_engine(num_gpu_blocks=60, max_model_len=640, max_num_seqs=3, scheduling_policy="priority")
    clock = FakeClock()
    for index, priority in enumerate((5, 0, 1)):
        engine.submit(request(f"r{index}", priority, max_tokens=200, first_token=index * 1000), clock.now())
    assert of_type(run_until_idle(engine, clock), SequencePreempted) == []


def test_preempted_sequence_loses_its_kv_and_is_recomputed(make_engine: MakeEngine) -> None:
    engine, clock, events = three_growing_sequences(make_engine, "priority", (5, 0, 1))
    used_before = 0
    for _ in range(100_000):
        used_before = engine.stats().num_used_blocks
        wakeup_s = engine.next_wakeup_s()
        assert wakeup_s is not None
        clock.set(wakeup_s)
        step_events = engine.advance(clock.now())
        events.extend(step_events)
        if of_type(step_events, SequencePreempted):
            break
    (preempted,) = of_type(events, SequencePreempted)
    tokens_before = max(e.num_output_tokens for e in of_type(events, TokenGenerated) if e.request_id == "A")
    assert preempted.num_computed_tokens == 64 + tokens_before - 1  # prompt + outputs, the last not yet fed
    # A's 14 blocks went back to the pool; B took one of them.
    assert engine.stats().num_used_blocks == used_before - 14 + 1
    assert (engine.stats().num_running, engine.stats().num_waiting) == (2, 1)
    events += run_until_idle(engine, clock)
    (resumed,) = of_type(events, SequenceResumed)
    assert resumed.request_id == "A"
    assert resumed.num_cached_tokens + resumed.num_recomputed_tokens == preempted.num_computed_tokens
    assert resumed.num_recomputed_tokens > 0
    # Output so far is kept: generation continues where it stopped, every token counted once.
    counts = [e.num_output_tokens for e in of_type(events, TokenGenerated) if e.request_id == "A"]
    assert counts == list(range(1, 201))


def test_a_waiting_request_never_preempts_a_running_one(make_engine: MakeEngine) -> None:
    # L (priority 10) runs alone and grows to 23 of 40 blocks; H (priority -10) arrives needing 35
    # blocks when L holds 6: it waits for L to finish instead of preempting it.
    engine = make_engine(num_gpu_blocks=40, max_model_len=640, scheduling_policy="priority")
    clock = FakeClock()
    engine.submit(request("L", 10, prompt_len=64, max_tokens=300), clock.now())
    clock.set(0.2)
    events = engine.advance(clock.now())
    assert engine.stats().num_used_blocks == 6
    engine.submit(request("H", -10, prompt_len=560, max_tokens=4, first_token=50_000), clock.now())
    events += run_until_idle(engine, clock)
    assert of_type(events, SequencePreempted) == []
    finish_s = {e.request_id: e.time_s for e in of_type(events, SequenceFinished)}
    scheduled_s = {e.request_id: e.time_s for e in of_type(events, SequenceScheduled)}
    assert scheduled_s["H"] >= finish_s["L"]


def test_no_admission_in_a_step_that_preempted(make_engine: MakeEngine) -> None:
    # D (priority 0) waits for a sequence slot; the step that preempts A frees one and enough blocks
    # for D, but D is admitted only in the next step.
    engine, clock, events = three_growing_sequences(make_engine, "priority", (5, 0, 1))
    engine.submit(request("D", 0, prompt_len=32, max_tokens=2, first_token=9000), clock.now())
    events += run_until_idle(engine, clock)
    preempted_at = {e.time_s for e in of_type(events, SequencePreempted)}
    admitted_at = {e.time_s for e in events if isinstance(e, SequenceScheduled | SequenceResumed)}
    assert preempted_at and not preempted_at & admitted_at
    (d_scheduled,) = (e for e in of_type(events, SequenceScheduled) if e.request_id == "D")
    assert d_scheduled.time_s > min(preempted_at)


def test_fcfs_puts_a_preempted_sequence_back_at_the_front(make_engine: MakeEngine) -> None:
    # C is preempted under fcfs; E arrived before that (after C): C goes back in front of E.
    engine, clock, events = three_growing_sequences(make_engine, "fcfs", (0, 0, 0))
    engine.submit(request("E", 0, prompt_len=300, max_tokens=2, first_token=9000), clock.now())
    events += run_until_idle(engine, clock)
    resumed_s = next(e.time_s for e in of_type(events, SequenceResumed) if e.request_id == "C")
    e_scheduled_s = next(e.time_s for e in of_type(events, SequenceScheduled) if e.request_id == "E")
    assert resumed_s < e_scheduled_s
