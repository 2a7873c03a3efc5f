"""Legacy admission: a sheddable request (priority < 0) is rejected with 429 while its candidates are saturated."""

from __future__ import annotations

from collections.abc import Sequence

from picker.admission.saturation_detector import SaturationDetector
from picker.errors import ErrorCode, PickerError
from picker.framework.types import EndpointState, InferenceRequest


def is_sheddable(priority: int) -> bool:
    """The EPP's rule: negative priorities may be dropped under load."""
    return priority < 0


class AdmissionController:
    """Every priority >= 0 is admitted (it queues at the model server or in flow control)."""

    def __init__(self, detector: SaturationDetector) -> None:
        self._detector = detector

    def admit(self, request: InferenceRequest, candidates: Sequence[EndpointState]) -> None:
        """Raises PickerError(RESOURCE_EXHAUSTED) for a sheddable request when the candidates are saturated."""
        if is_sheddable(request.priority) and self._detector.is_saturated(candidates):
            raise PickerError(ErrorCode.RESOURCE_EXHAUSTED, "system saturated, sheddable request dropped")
