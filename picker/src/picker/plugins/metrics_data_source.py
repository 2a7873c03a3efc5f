"""``metrics-data-source``: llm-d-router v0.10's model-server metrics source (its built-in default config
lists it). The picker always scrapes each endpoint's Prometheus metrics itself, with the scheme and TLS
settings of ``--model-server-metrics-scheme`` and ``--model-server-metrics-https-insecure-skip-verify``;
the parameters are validated and a value that differs from those defaults is reported once at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from picker.framework.context import PluginContext
from picker.framework.registry import PluginParameters

METRICS_DATA_SOURCE_TYPE = "metrics-data-source"
logger = logging.getLogger(__name__)


class MetricsDataSourceParameters(PluginParameters):
    scheme: Literal["http", "https"] = "http"
    path: str = "/metrics"
    insecure_skip_verify: bool = True


class MetricsDataSource:
    plugin_type = METRICS_DATA_SOURCE_TYPE

    def __init__(self, parameters: MetricsDataSourceParameters, name: str = METRICS_DATA_SOURCE_TYPE) -> None:
        self.name = name
        self.parameters = parameters


def create_metrics_data_source(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> MetricsDataSource:
    params = MetricsDataSourceParameters.model_validate(parameters)
    for key in sorted(params.model_fields_set):
        logger.warning(
            "plugin %s: parameter %s has no effect here; the picker's scraper follows its "
            "--model-server-metrics-* flags",
            name,
            key,
        )
    return MetricsDataSource(params, name)
