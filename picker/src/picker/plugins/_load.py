"""Load figures shared by the load-aware plugins (metrics missing = an idle endpoint, as in the EPP)."""

from __future__ import annotations

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
