"""Admission, decided in one place: the EPP's legacy shedding (a sheddable request, priority < 0, is rejected
with 429 while its candidates are saturated), the optional sheddable headroom rule that narrows a sheddable
request's candidates to endpoints that keep a reserve for priority >= 0 traffic, and the wait in flow control
with its dispatch gate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from picker.admission.saturation_detector import SaturationDetector
from picker.admission.sheddable_headroom import SheddableHeadroom
from picker.errors import ErrorCode, PickerError
from picker.flowcontrol.flow_controller import FlowController
from picker.framework.clock import Clock
from picker.framework.in_flight import InFlightTracker
from picker.framework.load import fresh_queue_estimate
from picker.framework.types import EndpointState, InferenceRequest


def is_sheddable(priority: int) -> bool:
    """The EPP's rule: negative priorities may be dropped under load."""
    return priority < 0


class CandidateSource(Protocol):
    def __call__(self, request: InferenceRequest, strict: bool = True) -> Sequence[EndpointState]:
        """The request's reachable endpoints; with ``strict``, none is a PickerError (503)."""
        ...


class AdmissionController:
    """Every priority >= 0 is admitted to all its candidates (it queues at the model server or in flow
    control); a sheddable request is admitted to the candidates the headroom rule leaves, if configured.
    With flow control, a request waits in the picker until one of its candidates has capacity."""

    def __init__(
        self,
        detector: SaturationDetector,
        headroom: SheddableHeadroom | None = None,
        *,
        flow: FlowController | None = None,
        in_flight: InFlightTracker | None = None,
        clock: Clock | None = None,
    ) -> None:
        if flow is not None and (in_flight is None or clock is None):
            raise ValueError("flow control needs the picker's in-flight counts and its clock")
        self._detector = detector
        self._headroom = headroom
        self._flow = flow
        self._in_flight = in_flight if in_flight is not None else InFlightTracker()
        self._clock = clock
        flow_config = flow.config if flow is not None else None
        self._max_in_flight = flow_config.max_in_flight_per_endpoint if flow_config is not None else None

    @asynccontextmanager
    async def admitted(
        self, request: InferenceRequest, candidates_for: CandidateSource
    ) -> AsyncIterator[Sequence[EndpointState]]:
        """The candidates ``request`` may be scheduled to, after any flow-control wait. Schedule it (and count
        it in flight) inside the block: leaving the block lets the next waiter's capacity check count it.

        Raises:
            PickerError: 429 (shed, no headroom, queue full), 503 (no candidates, TTL expired).
            asyncio.CancelledError: the client went away while waiting; its queue entry is gone.
        """
        candidates = self.admit(request, candidates_for(request))
        if self._flow is None:
            yield candidates
            return
        await self._flow.acquire(
            request, lambda: self._has_capacity(self.eligible(request, candidates_for(request, strict=False)))
        )
        try:  # the pool and the headroom may have changed while it waited
            yield self.restrict(request, candidates_for(request))
        finally:
            self._flow.pump()  # dispatched (scheduled or refused): the next waiter may go

    def admit(
        self, request: InferenceRequest, candidates: Sequence[EndpointState]
    ) -> Sequence[EndpointState]:
        """The legacy shedding and headroom step alone: the candidates ``request`` may be scheduled to.

        Raises:
            PickerError: RESOURCE_EXHAUSTED for a sheddable request when the candidates are saturated or
                none of them has sheddable headroom.
        """
        if not is_sheddable(request.priority):
            return candidates
        if self._detector.is_saturated(candidates):
            raise PickerError(ErrorCode.RESOURCE_EXHAUSTED, "system saturated, sheddable request dropped")
        return self.restrict(request, candidates)

    def eligible(
        self, request: InferenceRequest, candidates: Sequence[EndpointState]
    ) -> Sequence[EndpointState]:
        """``candidates`` narrowed by the headroom rule for a sheddable request; may be empty."""
        if self._headroom is None or not is_sheddable(request.priority):
            return candidates
        return self._headroom.eligible(candidates)

    def restrict(
        self, request: InferenceRequest, candidates: Sequence[EndpointState]
    ) -> Sequence[EndpointState]:
        """Like :meth:`eligible`, but no candidate left is a 429 (checked again after a flow-control wait)."""
        eligible = self.eligible(request, candidates)
        if not eligible and self._headroom is not None:
            raise PickerError(
                ErrorCode.RESOURCE_EXHAUSTED,
                "no endpoint has sheddable headroom (sheddableHeadroom), sheddable request dropped",
            )
        return eligible

    def _has_capacity(self, candidates: Sequence[EndpointState]) -> bool:
        """Flow-control dispatch gate: the detector's rule, with the queue estimate corrected by this picker's
        in-flight count, so requests dispatched since the last scrape count against capacity."""
        assert self._clock is not None  # checked in __init__ whenever flow control is on
        now_s = self._clock.now()
        threshold = self._detector.config.queue_depth_threshold
        for state in candidates:
            if not self._detector.has_capacity(state, now_s) or state.metrics is None:
                continue
            in_flight = self._in_flight.count(state.endpoint.name)
            if self._max_in_flight is not None and in_flight >= self._max_in_flight:
                continue
            if fresh_queue_estimate(state.metrics, in_flight) <= threshold:
                return True
        return False
