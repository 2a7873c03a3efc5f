"""Reads an EndpointPickerConfig from YAML text or a file; every problem becomes a ConfigError with a path."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from pydantic import ValidationError

from picker.config.errors import ConfigError, ConfigIssue, issues_from_validation_error
from picker.config.model import EndpointPickerConfig, inert_keys, reference_issues

logger = logging.getLogger(__name__)


def load_config_text(text: str, source: str = "EndpointPickerConfig") -> EndpointPickerConfig:
    """Parse and validate YAML (or JSON) text. Raises ConfigError naming the offending keys."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        raise ConfigError([ConfigIssue("", f"not valid YAML at {where}: {error}")], source) from None
    if not isinstance(document, dict):
        raise ConfigError(
            [ConfigIssue("", "expected a mapping with apiVersion, kind, plugins and schedulingProfiles")],
            source,
        )
    try:
        config = EndpointPickerConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(issues_from_validation_error(error), source) from None
    issues = reference_issues(config)
    if issues:
        raise ConfigError(issues, source)
    for inert in inert_keys(config):  # accepted as llm-d-router v0.10 does, but without effect here
        logger.warning("%s: %s", source, inert)
    return config


def load_config_file(path: str | Path) -> EndpointPickerConfig:
    """Read ``path`` and validate it; a missing or unreadable file is a ConfigError too."""
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            [ConfigIssue("", f"cannot read config file: {error.strerror}")], str(config_path)
        ) from None
    return load_config_text(text, str(config_path))
