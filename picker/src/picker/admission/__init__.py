"""Admission: saturation detection and shedding of sheddable (priority < 0) requests."""

from __future__ import annotations

from picker.admission.admission_controller import AdmissionController, is_sheddable
from picker.admission.saturation_detector import SaturationDetector

__all__ = ["AdmissionController", "SaturationDetector", "is_sheddable"]
