"""Load figures shared by the load-aware plugins (metrics missing = an idle endpoint, as in the EPP)."""

from __future__ import annotations

from collections.abc import Sequence

from picker.framework.in_flight import InFlightTracker
from picker.framework.types import EndpointMetrics, EndpointState

IDLE_METRICS = EndpointMetrics()


def metrics_of(state: EndpointState) -> EndpointMetrics:
    return state.metrics if state.metrics is not None else IDLE_METRICS


def fresh_queue_estimate(metrics: EndpointMetrics, in_flight: int) -> int:
    """Requests waiting at the endpoint, corrected by the picker's own in-flight count.

    At most ``running`` of the picker's in-flight requests can be running, so at least
    ``in_flight - running`` are queued or still on the wire; this catches bursts a 50 ms scrape has not seen.
    """
    waiting, unstarted = metrics.waiting_queue_size, in_flight - metrics.running_requests
    return (
        waiting if waiting >= unstarted else unstarted
    )  # not max(): a builtin call per candidate per request


def hot_endpoints(
    endpoints: Sequence[EndpointState], in_flight: InFlightTracker, queue_threshold: int, kv_threshold: float
) -> list[bool]:
    """Which candidates are saturated *relative to the least-queued one* (the spill rule of the prefix
    scorers): q_e = fresh queue estimate, T_e = queue_threshold (x2 when the server's own scrape shows nobody
    waiting: an in-flight-only queue must be twice as deep), hot_e = min(q_e, q_e - min_c q_c) >= T_e or
    kv_e >= kv_threshold."""
    # Lists of numbers, not a tuple per candidate for the garbage collector to count: this runs over every
    # candidate on every request.
    in_flight_of = in_flight.view().get
    queued: list[int] = []
    waiting: list[int] = []
    kv_usage: list[float] = []
    for state in endpoints:
        metrics = IDLE_METRICS if state.metrics is None else state.metrics
        queued.append(fresh_queue_estimate(metrics, in_flight_of(state.endpoint.name, 0)))
        waiting.append(metrics.waiting_queue_size)
        kv_usage.append(metrics.kv_cache_usage_ratio)
    least_queued = min(queued, default=0)
    hot = []
    for queue, server_queue, kv in zip(queued, waiting, kv_usage, strict=True):
        threshold = queue_threshold if server_queue > 0 else 2 * queue_threshold
        hot.append((queue >= threshold and queue - least_queued >= threshold) or kv >= kv_threshold)
    return hot
