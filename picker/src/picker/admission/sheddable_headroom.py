"""Sheddable headroom (project extension, not in the EPP): which endpoints a sheddable request may use.

The EPP's legacy admission starts shedding only once every candidate is saturated, by which time sheddable
requests hold every sequence slot; a priority >= 0 request then waits for one of them to finish, because
neither vLLM's FCFS scheduler nor the simulator preempts. This rule keeps a reserve instead: a sheddable
request may only go to an endpoint that still has room for priority >= 0 traffic, judged on the picker's
own count of sheddable requests in flight there and, optionally, on the scraped waiting queue.
"""

from __future__ import annotations

from collections.abc import Sequence

from picker.config.model import SheddableHeadroomConfig
from picker.framework.clock import Clock
from picker.framework.in_flight import InFlightTracker
from picker.framework.load import fresh_queue_estimate
from picker.framework.types import EndpointState


class SheddableHeadroom:
    """Filters candidates for sheddable requests; priority >= 0 requests never go through it.

    ``sheddable_in_flight`` counts this picker's sheddable requests per endpoint from routing to release;
    ``in_flight`` counts all requests in flight (the pool's, when deciders share them; it corrects a scrape
    that has not seen a burst yet). Sheddable counts are not shared: with several picker replicas or
    workers the effective cap per endpoint is multiplied by their number.
    """

    def __init__(
        self,
        config: SheddableHeadroomConfig,
        *,
        sheddable_in_flight: InFlightTracker,
        in_flight: InFlightTracker,
        metrics_staleness_s: float,
        clock: Clock,
    ) -> None:
        self.config = config
        self._sheddable_in_flight = sheddable_in_flight
        self._in_flight = in_flight
        self._metrics_staleness_s = metrics_staleness_s
        self._clock = clock

    def has_headroom(self, state: EndpointState, now_s: float | None = None) -> bool:
        """Whether one more sheddable request may go to ``state`` and still leave the reserve."""
        name = state.endpoint.name
        cap = self.config.max_in_flight_per_endpoint
        if cap is not None and self._sheddable_in_flight.count(name) >= cap:
            return False
        threshold = self.config.queue_depth_threshold
        if threshold is None:
            return True
        metrics = state.metrics
        if metrics is None:
            return False  # never scraped: cannot tell whether anything waits there
        now_s = self._clock.now() if now_s is None else now_s
        if now_s - metrics.updated_at_s > self._metrics_staleness_s:
            return False
        return fresh_queue_estimate(metrics, self._in_flight.count(name)) <= threshold

    def eligible(self, candidates: Sequence[EndpointState]) -> list[EndpointState]:
        """The candidates that keep their reserve after taking one more sheddable request."""
        now_s = self._clock.now()
        return [state for state in candidates if self.has_headroom(state, now_s)]
