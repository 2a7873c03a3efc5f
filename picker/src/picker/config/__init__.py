"""Picker configuration: the EndpointPickerConfig format, its loader and the shipped profiles.

Light on purpose (pydantic and PyYAML only), so the Pulumi program validates stack config with the very
same schema; the plugin builder is ``picker.config.builder`` and whole-config checks ``picker.preflight``.
"""

from __future__ import annotations

from picker.config.defaults import default_config, llm_d_default_config, precise_config, recommended_config
from picker.config.errors import ConfigError, ConfigIssue
from picker.config.loader import load_config_file, load_config_text
from picker.config.model import (
    API_VERSION,
    LLM_D_API_VERSION,
    EndpointPickerConfig,
    FlowControlConfig,
    PluginRef,
    PluginSpec,
    SaturationDetectorConfig,
    SchedulingProfileSpec,
    SheddableHeadroomConfig,
)

__all__ = [
    "API_VERSION",
    "LLM_D_API_VERSION",
    "ConfigError",
    "ConfigIssue",
    "EndpointPickerConfig",
    "FlowControlConfig",
    "PluginRef",
    "PluginSpec",
    "SaturationDetectorConfig",
    "SchedulingProfileSpec",
    "SheddableHeadroomConfig",
    "default_config",
    "llm_d_default_config",
    "load_config_file",
    "load_config_text",
    "precise_config",
    "recommended_config",
]
