"""The picker's own count of requests it routed to each endpoint and that have not finished yet.

Fresher than any scrape: it moves the instant a request is routed or released. The director writes it;
load-aware plugins read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType


class InFlightTracker:
    """Per-endpoint in-flight counts keyed by endpoint name. Never negative."""

    def __init__(self) -> None:
        self._count_by_endpoint: dict[str, int] = {}

    def count(self, endpoint_name: str) -> int:
        return self._count_by_endpoint.get(endpoint_name, 0)

    def view(self) -> Mapping[str, int]:
        """A live read-only view for hot loops (``view().get(name, 0)``); do not keep it across awaits."""
        return MappingProxyType(self._count_by_endpoint)

    def counts(self) -> dict[str, int]:
        """A copy of the non-zero counts."""
        return dict(self._count_by_endpoint)

    def total(self) -> int:
        return sum(self._count_by_endpoint.values())

    def increment(self, endpoint_name: str) -> None:
        self._count_by_endpoint[endpoint_name] = self._count_by_endpoint.get(endpoint_name, 0) + 1

    def decrement(self, endpoint_name: str) -> None:
        remaining = self._count_by_endpoint.get(endpoint_name, 0) - 1
        if remaining > 0:
            self._count_by_endpoint[endpoint_name] = remaining
        else:
            self._count_by_endpoint.pop(endpoint_name, None)

    def forget(self, endpoint_names: Iterable[str]) -> None:
        """Drop departed endpoints so their counts cannot leak into a reused name."""
        for name in endpoint_names:
            self._count_by_endpoint.pop(name, None)
