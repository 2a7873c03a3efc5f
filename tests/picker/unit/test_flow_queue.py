from __future__ import annotations

from picker.flowcontrol.flow_queue import FlowQueue, QueuedRequest


def entry(
    request_id: str, priority: int = 0, fairness_id: str = "f", deadline_s: float | None = None
) -> QueuedRequest:
    return QueuedRequest(
        request_id, priority, fairness_id, size_bytes=10, enqueued_at_s=0.0, deadline_s=deadline_s
    )


def drain(queue: FlowQueue) -> list[str]:
    order = []
    while (item := queue.pop()) is not None:
        order.append(item.request_id)
    return order


def test_strict_priority_between_levels() -> None:
    queue = FlowQueue()
    for item in (entry("low", -1), entry("mid", 0), entry("high", 5), entry("mid2", 0)):
        queue.push(item)
    assert drain(queue) == ["high", "mid", "mid2", "low"]


def test_round_robin_between_fairness_ids_and_fifo_within_one() -> None:
    queue = FlowQueue()
    for request_id, flow in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"), ("b2", "b")):
        queue.push(entry(request_id, fairness_id=flow))
    assert drain(queue) == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_a_heavy_flow_cannot_starve_a_light_one() -> None:
    queue = FlowQueue()
    for index in range(50):
        queue.push(entry(f"heavy{index}", fairness_id="heavy"))
    queue.push(entry("light", fairness_id="light"))
    assert drain(queue).index("light") == 1


def test_remove_and_accounting() -> None:
    queue = FlowQueue()
    first, second = entry("1"), entry("2")
    queue.push(first)
    queue.push(second)
    assert queue.remove(first) and not queue.remove(first)
    assert (queue.count, queue.size_bytes) == (1, 10)
    assert queue.flow_sizes() == {("f", 0): 1}
    assert drain(queue) == ["2"]
    assert (queue.count, queue.size_bytes, queue.flow_sizes()) == (0, 0, {})


def test_expired_returns_only_overdue_still_queued_entries() -> None:
    queue = FlowQueue()
    soon, later, gone = (
        entry("soon", deadline_s=5.0),
        entry("later", deadline_s=50.0),
        entry("gone", deadline_s=1.0),
    )
    for item in (soon, later, gone):
        queue.push(item)
    queue.remove(gone)
    assert [item.request_id for item in queue.expired(10.0)] == ["soon"]
    assert drain(queue) == ["later"]
