"""``load-headroom-scorer``: load from running requests, fresh queue estimate and KV headroom together.

The EPP's queue-scorer normalises min-max over scraped queue lengths, so a one-request difference swings
the full weight, it ignores running requests, and it is blind for up to a scrape interval to a burst it
just routed. This scorer uses an absolute scale and the picker's own in-flight count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest

LOAD_HEADROOM_SCORER_TYPE = "load-headroom-scorer"


class LoadHeadroomParameters(PluginParameters):
    busy_scale: float = Field(default=8.0, gt=0.0, description="weighted load at which the score halves")
    queue_weight: float = Field(
        default=2.0, ge=0.0, description="cost of a queued request relative to a running one"
    )
    kv_headroom_threshold: float = Field(
        default=0.8, ge=0.0, lt=1.0, description="KV usage above which the score falls linearly to 0 at full"
    )


class LoadHeadroomScorer:
    """q_e = max(waiting_e, in_flight_e - running_e) (fresh_queue_estimate);
    h_e = min(1, (1 - kv_e) / (1 - kvHeadroomThreshold));
    score_e = h_e * busyScale / (busyScale + running_e + queueWeight * q_e).

    KV only counts near the top: a scraped KV figure is as stale as the scraped queue, and ranking on it
    below the threshold would send a whole scrape interval's burst to the one endpoint that looked emptiest.
    """

    plugin_type = LOAD_HEADROOM_SCORER_TYPE

    def __init__(
        self,
        parameters: LoadHeadroomParameters,
        in_flight: InFlightTracker,
        name: str = LOAD_HEADROOM_SCORER_TYPE,
    ) -> None:
        self.name = name
        self._busy_scale = parameters.busy_scale
        self._queue_weight = parameters.queue_weight
        self._kv_span = 1.0 - parameters.kv_headroom_threshold
        self._in_flight = in_flight

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        # One tight loop with locals only: this runs over every candidate on every request.
        scale = self._busy_scale
        queue_weight = self._queue_weight
        kv_span = self._kv_span
        in_flight_of = self._in_flight.view().get
        scores: list[float] = []
        append = scores.append
        for state in endpoints:
            metrics = state.metrics
            in_flight = in_flight_of(state.endpoint.name, 0)
            if metrics is None:
                append(scale / (scale + queue_weight * in_flight))
                continue
            running = metrics.running_requests
            queued = in_flight - running
            if queued < metrics.waiting_queue_size:
                queued = metrics.waiting_queue_size
            headroom = (1.0 - metrics.kv_cache_usage_ratio) / kv_span
            if headroom > 1.0:
                headroom = 1.0
            append(headroom * scale / (scale + running + queue_weight * queued))
        return scores


def create_load_headroom_scorer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> LoadHeadroomScorer:
    params = LoadHeadroomParameters.model_validate(parameters)
    return LoadHeadroomScorer(params, context.in_flight, name)
