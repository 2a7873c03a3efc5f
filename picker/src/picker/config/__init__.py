"""Picker configuration: the EndpointPickerConfig format, its loader, defaulting and the shipped profiles."""

from __future__ import annotations

from picker.config.builder import SchedulingSetup, build_scheduling
from picker.config.defaults import default_config, recommended_config
from picker.config.errors import ConfigError, ConfigIssue
from picker.config.loader import load_config_file, load_config_text
from picker.config.model import (
    API_VERSION,
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
    "ConfigError",
    "ConfigIssue",
    "EndpointPickerConfig",
    "FlowControlConfig",
    "PluginRef",
    "PluginSpec",
    "SaturationDetectorConfig",
    "SchedulingProfileSpec",
    "SchedulingSetup",
    "SheddableHeadroomConfig",
    "build_scheduling",
    "default_config",
    "load_config_file",
    "load_config_text",
    "recommended_config",
]
