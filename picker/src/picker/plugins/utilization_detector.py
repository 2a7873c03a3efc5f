"""``utilization-detector``: llm-d-router v0.10's saturation detector, as a plugin the config names.

Its parameters are the picker's saturation detector settings (``queueDepthThreshold`` 5,
``kvCacheUtilThreshold`` 0.8, ``metricsStalenessThreshold`` 200ms; stale = saturated) plus v0.10's
``headroom`` (accepted, no effect here). When ``flowControl.saturationDetector.pluginRef`` names it,
admission and flow control use these thresholds
(``EndpointPickerConfig.effective_saturation_detector``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from picker.config.model import DEFAULT_SATURATION_DETECTOR, SaturationDetectorConfig
from picker.framework.context import PluginContext

UTILIZATION_DETECTOR_TYPE = DEFAULT_SATURATION_DETECTOR


class UtilizationDetectorParameters(SaturationDetectorConfig):
    headroom: float = Field(default=0.0, ge=0.0)


class UtilizationDetector:
    """Holds the validated thresholds; the admission controller's SaturationDetector applies them."""

    plugin_type = UTILIZATION_DETECTOR_TYPE

    def __init__(
        self, parameters: UtilizationDetectorParameters, name: str = UTILIZATION_DETECTOR_TYPE
    ) -> None:
        self.name = name
        self.parameters = parameters


def create_utilization_detector(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> UtilizationDetector:
    return UtilizationDetector(UtilizationDetectorParameters.model_validate(parameters), name)
