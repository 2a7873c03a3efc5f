"""``core-metrics-extractor``: llm-d-router v0.10's extractor of the core vLLM metrics (waiting and running
requests, KV-cache usage, LoRA info, cache config), listed by its built-in default config. The picker's
scraper (``picker.datastore.vllm_metrics``) extracts exactly these; the plugin takes no parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.registry import PluginParameters

CORE_METRICS_EXTRACTOR_TYPE = "core-metrics-extractor"


class CoreMetricsExtractor:
    plugin_type = CORE_METRICS_EXTRACTOR_TYPE

    def __init__(self, name: str = CORE_METRICS_EXTRACTOR_TYPE) -> None:
        self.name = name


def create_core_metrics_extractor(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> CoreMetricsExtractor:
    PluginParameters.model_validate(parameters)  # takes no parameters; rejects any
    return CoreMetricsExtractor(name)
