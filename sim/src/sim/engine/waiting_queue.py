"""The engine's waiting queue under vLLM's two scheduling policies (``--scheduling-policy``).

``fcfs``: arrival order; a preempted request goes back to the front. ``priority``: a min-heap on
(priority, arrival), so a preempted request goes back to its place by priority and original arrival.
Both are vLLM V1's ``request_queue.py`` semantics; the admission loop peeks, pops, and puts back the
requests it skipped (adapter not loaded) in order.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

from sim.engine.sequence import Sequence

SchedulingPolicy = Literal["fcfs", "priority"]


class WaitingQueue(Protocol):
    def add(self, sequence: Sequence) -> None:
        """A new arrival."""

    def prepend(self, sequence: Sequence) -> None:
        """A preempted sequence, to be scheduled again before later arrivals of its rank."""

    def prepend_all(self, sequences: Iterable[Sequence]) -> None:
        """Sequences popped and skipped in this order, back where they were."""

    def peek(self) -> Sequence: ...

    def pop(self) -> Sequence: ...

    def remove(self, sequence: Sequence) -> None: ...

    def __iter__(self) -> Iterator[Sequence]: ...

    def __len__(self) -> int: ...


class FcfsWaitingQueue:
    def __init__(self) -> None:
        self._queue: deque[Sequence] = deque()

    def add(self, sequence: Sequence) -> None:
        self._queue.append(sequence)

    def prepend(self, sequence: Sequence) -> None:
        self._queue.appendleft(sequence)

    def prepend_all(self, sequences: Iterable[Sequence]) -> None:
        self._queue.extendleft(reversed(list(sequences)))

    def peek(self) -> Sequence:
        return self._queue[0]

    def pop(self) -> Sequence:
        return self._queue.popleft()

    def remove(self, sequence: Sequence) -> None:
        self._queue.remove(sequence)

    def __iter__(self) -> Iterator[Sequence]:
        return iter(self._queue)

    def __len__(self) -> int:
        return len(self._queue)


class PriorityWaitingQueue:
    def __init__(self) -> None:
        # The key's last element (submission order) is unique, so heap entries never compare sequences.
        self._heap: list[tuple[tuple[int, float, int], Sequence]] = []

    def add(self, sequence: Sequence) -> None:
        heapq.heappush(self._heap, (sequence.priority_key, sequence))

    def prepend(self, sequence: Sequence) -> None:
        self.add(sequence)

    def prepend_all(self, sequences: Iterable[Sequence]) -> None:
        for sequence in sequences:
            self.add(sequence)

    def peek(self) -> Sequence:
        return self._heap[0][1]

    def pop(self) -> Sequence:
        return heapq.heappop(self._heap)[1]

    def remove(self, sequence: Sequence) -> None:
        self._heap = [entry for entry in self._heap if entry[1] is not sequence]
        heapq.heapify(self._heap)

    def __iter__(self) -> Iterator[Sequence]:
        return (sequence for _, sequence in self._heap)

    def __len__(self) -> int:
        return len(self._heap)


def waiting_queue(policy: SchedulingPolicy) -> WaitingQueue:
    return PriorityWaitingQueue() if policy == "priority" else FcfsWaitingQueue()
