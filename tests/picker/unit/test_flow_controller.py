from __future__ import annotations

import asyncio

import pytest
from picker.config.model import FlowControlConfig
from picker.errors import PickerError
from picker.flowcontrol.flow_controller import FlowController
from picker.framework.clock import FakeClock

from tests.picker.unit.builders import inference_request


class RecordingSink:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, int, str, float]] = []
        self.sizes: dict[tuple[str, int], int] = {}

    def record_flow_outcome(self, fairness_id: str, priority: int, outcome: str, waited_s: float) -> None:
        self.outcomes.append((fairness_id, priority, outcome, waited_s))

    def set_flow_queue_sizes(self, sizes: dict[tuple[str, int], int]) -> None:
        self.sizes = sizes


class Capacity:
    """A switchable capacity gate shared by all waiters."""

    def __init__(self, open_: bool = False) -> None:
        self.open = open_

    def __call__(self) -> bool:
        return self.open


def controller(clock: FakeClock, sink: RecordingSink | None = None, **config) -> FlowController:
    return FlowController(FlowControlConfig(enabled=True, **config), clock, sink)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_passes_straight_through_with_capacity_and_empty_queue(fake_clock: FakeClock) -> None:
    sink = RecordingSink()
    await controller(fake_clock, sink).acquire(inference_request(), Capacity(True))
    assert [outcome[2] for outcome in sink.outcomes] == ["Dispatched"]


async def test_waits_until_capacity_then_dispatches_in_priority_order(fake_clock: FakeClock) -> None:
    flow = controller(fake_clock)
    gate = Capacity(False)
    order: list[str] = []

    async def waiter(request_id: str, priority: int) -> None:
        await flow.acquire(inference_request(request_id=request_id, priority=priority), gate)
        order.append(request_id)
        flow.pump()  # the director pumps after scheduling each dispatched request

    tasks = [
        asyncio.create_task(waiter(rid, prio)) for rid, prio in (("low", -1), ("normal", 0), ("urgent", 9))
    ]
    await settle()
    assert flow.queued == 3 and order == []
    gate.open = True
    flow.pump()
    await asyncio.gather(*tasks)
    assert order == ["urgent", "normal", "low"]


async def test_fairness_ids_alternate_within_a_level(fake_clock: FakeClock) -> None:
    flow = controller(fake_clock)
    gate = Capacity(False)
    order: list[str] = []

    async def waiter(request_id: str, fairness_id: str) -> None:
        await flow.acquire(inference_request(request_id=request_id, fairness_id=fairness_id), gate)
        order.append(request_id)
        flow.pump()

    specs = [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b")]
    tasks = []
    for spec in specs:
        tasks.append(asyncio.create_task(waiter(*spec)))
        await settle()
    gate.open = True
    flow.pump()
    await asyncio.gather(*tasks)
    assert order == ["a1", "b1", "a2", "b2", "a3"]


async def test_ttl_expiry_is_a_503(fake_clock: FakeClock) -> None:
    sink = RecordingSink()
    flow = controller(fake_clock, sink, request_ttl=2.0, dispatch_interval=0.1)
    runner = asyncio.create_task(flow.run())
    waiter = asyncio.create_task(flow.acquire(inference_request(fairness_id="t"), Capacity(False)))
    await settle()
    await fake_clock.advance(1.9)
    assert not waiter.done()
    await fake_clock.advance(0.2)
    with pytest.raises(PickerError) as raised:
        await waiter
    assert raised.value.http_status == 503
    assert sink.outcomes[-1][:3] == ("t", 0, "EvictedTTL")
    assert sink.outcomes[-1][3] == pytest.approx(2.0, abs=0.11)
    assert flow.queued == 0 and sink.sizes == {}
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_full_queue_is_a_429_and_loses_nothing_queued(fake_clock: FakeClock) -> None:
    flow = controller(fake_clock, max_queued_requests=2)
    gate = Capacity(False)
    waiters = [
        asyncio.create_task(flow.acquire(inference_request(request_id=str(i)), gate)) for i in range(2)
    ]
    await settle()
    with pytest.raises(PickerError) as raised:
        await flow.acquire(inference_request(request_id="overflow"), gate)
    assert raised.value.http_status == 429
    assert flow.queued == 2
    gate.open = True
    for _ in range(2):
        flow.pump()
        await settle()
    await asyncio.gather(*waiters)


async def test_byte_bound_rejects_a_body_that_does_not_fit(fake_clock: FakeClock) -> None:
    flow = controller(fake_clock, max_queued_bytes=100)
    with pytest.raises(PickerError):
        await flow.acquire(inference_request("x" * 200), Capacity(False))


async def test_cancelled_waiter_leaves_the_queue(fake_clock: FakeClock) -> None:
    sink = RecordingSink()
    flow = controller(fake_clock, sink)
    gate = Capacity(False)
    first = asyncio.create_task(flow.acquire(inference_request(request_id="gone", fairness_id="x"), gate))
    second = asyncio.create_task(flow.acquire(inference_request(request_id="stays"), gate))
    await settle()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert flow.queued == 1
    assert ("x", 0, "EvictedContextCancelled") == sink.outcomes[-1][:3]
    gate.open = True
    flow.pump()
    await asyncio.wait_for(second, timeout=1.0)


async def test_head_of_line_blocks_lower_priorities(fake_clock: FakeClock) -> None:
    flow = controller(fake_clock)
    blocked_gate, open_gate = Capacity(False), Capacity(True)
    high = asyncio.create_task(flow.acquire(inference_request(request_id="h", priority=1), blocked_gate))
    await settle()
    low = asyncio.create_task(flow.acquire(inference_request(request_id="l", priority=0), open_gate))
    await settle()
    assert not low.done()  # a lower level never overtakes a blocked higher one
    blocked_gate.open = True
    flow.pump()
    await settle()
    flow.pump()
    await asyncio.gather(high, low)
