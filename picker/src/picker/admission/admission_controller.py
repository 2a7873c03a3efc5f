"""Admission: the EPP's legacy shedding (a sheddable request, priority < 0, is rejected with 429 while its
candidates are saturated), plus the optional sheddable headroom rule that narrows a sheddable request's
candidates to endpoints that keep a reserve for priority >= 0 traffic."""

from __future__ import annotations

from collections.abc import Sequence

from picker.admission.saturation_detector import SaturationDetector
from picker.admission.sheddable_headroom import SheddableHeadroom
from picker.errors import ErrorCode, PickerError
from picker.framework.types import EndpointState, InferenceRequest


def is_sheddable(priority: int) -> bool:
    """The EPP's rule: negative priorities may be dropped under load."""
    return priority < 0


class AdmissionController:
    """Every priority >= 0 is admitted to all its candidates (it queues at the model server or in flow
    control); a sheddable request is admitted to the candidates the headroom rule leaves, if configured."""

    def __init__(self, detector: SaturationDetector, headroom: SheddableHeadroom | None = None) -> None:
        self._detector = detector
        self._headroom = headroom

    def admit(
        self, request: InferenceRequest, candidates: Sequence[EndpointState]
    ) -> Sequence[EndpointState]:
        """The candidates ``request`` may be scheduled to.

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
