"""Admission: saturation detection, shedding of sheddable (priority < 0) requests and sheddable headroom."""

from __future__ import annotations

from picker.admission.admission_controller import AdmissionController, is_sheddable
from picker.admission.saturation_detector import SaturationDetector
from picker.admission.sheddable_headroom import SheddableHeadroom

__all__ = ["AdmissionController", "SaturationDetector", "SheddableHeadroom", "is_sheddable"]
