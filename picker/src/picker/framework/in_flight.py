"""Requests in flight per endpoint: the ones this decider routed and that have not finished yet, plus what its
sibling deciders (``--workers``, active-active replicas) last reported holding.

Fresher than any scrape: it moves the instant a request is routed or released. The director writes this
decider's own counts; the sharing transport (picker.placements) writes the siblings' totals; load-aware
plugins, admission and flow control read the sum, the pool's in flight (:meth:`InFlightTracker.view`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

InFlightListener = Callable[[str], None]


class InFlightTracker:
    """Per-endpoint in-flight counts keyed by endpoint name. Never negative.

    ``count`` / ``view`` are the pool's: this decider's own plus its siblings' (zero without siblings);
    ``own_count`` is this decider's alone, what it shares."""

    def __init__(self) -> None:
        self._own: dict[str, int] = {}
        self._siblings: dict[str, int] = {}
        self._pool: dict[str, int] = {}  # own + siblings, kept in step: hot loops read it without a sum
        self._listener: InFlightListener | None = None

    def count(self, endpoint_name: str) -> int:
        return self._pool.get(endpoint_name, 0)

    def view(self) -> Mapping[str, int]:
        """A live read-only view of the pool's counts for hot loops (``view().get(name, 0)``); do not keep it
        across awaits."""
        return MappingProxyType(self._pool)

    def counts(self) -> dict[str, int]:
        """A copy of the pool's non-zero counts."""
        return dict(self._pool)

    def total(self) -> int:
        return sum(self._pool.values())

    def own_count(self, endpoint_name: str) -> int:
        return self._own.get(endpoint_name, 0)

    def own_counts(self) -> dict[str, int]:
        """A copy of this decider's own non-zero counts."""
        return dict(self._own)

    def watch(self, listener: InFlightListener) -> None:
        """``listener(endpoint_name)`` after every change of this decider's own count (one listener: the
        transport that shares it)."""
        self._listener = listener

    def increment(self, endpoint_name: str) -> None:
        self._own[endpoint_name] = self._own.get(endpoint_name, 0) + 1
        self._pool[endpoint_name] = self._pool.get(endpoint_name, 0) + 1
        if self._listener is not None:
            self._listener(endpoint_name)

    def decrement(self, endpoint_name: str) -> None:
        own = self._own.get(endpoint_name, 0)
        if own == 0:
            return
        if own > 1:
            self._own[endpoint_name] = own - 1
        else:
            del self._own[endpoint_name]
        self._set_pool(endpoint_name, own - 1 + self._siblings.get(endpoint_name, 0))
        if self._listener is not None:
            self._listener(endpoint_name)

    def set_siblings(self, endpoint_name: str, count: int) -> None:
        """The siblings' total in flight to ``endpoint_name`` (picker.placements.sibling_in_flight)."""
        if count > 0:
            self._siblings[endpoint_name] = count
        else:
            self._siblings.pop(endpoint_name, None)
            count = 0
        self._set_pool(endpoint_name, self._own.get(endpoint_name, 0) + count)

    def forget(self, endpoint_names: Iterable[str]) -> None:
        """Drop departed endpoints so their counts cannot leak into a reused name."""
        for name in endpoint_names:
            self._own.pop(name, None)
            self._siblings.pop(name, None)
            self._pool.pop(name, None)

    def _set_pool(self, endpoint_name: str, count: int) -> None:
        if count > 0:
            self._pool[endpoint_name] = count
        else:
            self._pool.pop(endpoint_name, None)
