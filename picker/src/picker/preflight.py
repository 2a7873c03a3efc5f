"""Checks a picker invocation without starting anything: the command line and the EndpointPickerConfig,
exactly as ``python -m picker`` would accept or refuse them at start-up.

The Pulumi program validates ``services.pools[].picker`` with these, the offline plan's deploy rehearsal
checks every planned picker container with them, and ``infgw local`` refuses to start what they refuse.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from picker.cli import OptionsError, parse_options
from picker.config.builder import build_scheduling
from picker.config.errors import ConfigError
from picker.config.loader import load_config_text
from picker.config.model import EndpointPickerConfig
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.options import PickerOptions
from picker.plugins import builtin_registry

__all__ = ["ConfigError", "OptionsError", "check_command_line", "check_config", "check_config_text"]


def check_config(config: EndpointPickerConfig, source: str = "EndpointPickerConfig") -> None:
    """Instantiate every plugin (parameters, types, references, defaulting) as the picker does at start,
    without reading what only the picker's pod has (a tokenizer path, a Hub download).

    Raises:
        ConfigError: every problem, each with its indexed path (``plugins[2].parameters.blockSize``).
    """
    context = PluginContext(
        clock=FakeClock(), rng=random.Random(0), in_flight=InFlightTracker(), load_external=False
    )
    try:
        build_scheduling(config, builtin_registry(), context)
    except ConfigError as error:
        raise ConfigError(error.issues, source) from None


def check_config_text(text: str, source: str = "EndpointPickerConfig") -> EndpointPickerConfig:
    """Parse, validate and build ``text`` (YAML) as the picker's ``--config-file``; returns the config."""
    config = load_config_text(text, source)
    check_config(config, source)
    return config


def check_command_line(argv: Sequence[str]) -> PickerOptions:
    """The container's ``args``: the picker's own flag parser and option validation.

    Raises:
        OptionsError: an unknown flag, a bad value, or flags that do not go together.
    """
    return parse_options(argv)
