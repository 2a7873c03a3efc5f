"""`load_stack_config` / `validate_stack_config`: the one validation entry for `pulumi up`, `make plan` and
`make local`. Raw config (a stack file or the engine's values) becomes a StackConfig, or a ConfigError that
lists every problem as `key.path: what to do`.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from components.config.cross_checks import STACK_CHECKS
from components.config.errors import ConfigError, ConfigProblem
from components.config.sources import RawStackConfig, StackFileError, read_stack, read_stack_file
from components.config.stack import RegionConfig, StackConfig

PROJECT_KEY = "gcp:project"


def _key_path(loc: tuple[str | int, ...]) -> str:
    if loc and loc[0] == "project":
        return PROJECT_KEY
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid mapping key; the key itself is the path
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(stack config)"


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at the mapping that holds `loc[-1]` (for 'unknown key' messages)."""
    model: type[BaseModel] | None = StackConfig
    parent = loc[:-1]
    index = 0
    while model is not None and index < len(parent):
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == parent[index]), None
        )
        if field is None:
            return []
        annotation = field.annotation
        if typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
            index += 1  # skip the user's key (e.g. the region name)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        index += 1
    if model is None:
        return []
    return [
        field.alias or name
        for name, field in model.model_fields.items()
        if not (model is StackConfig and name == "project")
    ]


def _problem_from_error(error: Any) -> ConfigProblem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    key = _key_path(loc)
    kind = error["type"]
    if kind == "stack_config":
        return ConfigProblem(key, error["msg"])
    if kind == "missing":
        if key == PROJECT_KEY:
            return ConfigProblem(key, "missing; set it with `pulumi config set gcp:project <PROJECT_ID>`")
        return ConfigProblem(key, "missing; this key is required (see docs/configuration.md)")
    if kind == "extra_forbidden":
        known = _known_keys(loc)
        hint = f"; known keys here: {', '.join(known)}" if known else ""
        return ConfigProblem(key, f"unknown key{hint}")
    return ConfigProblem(key, f"{error['msg']} (got {error['input']!r})")


def _stack_data(raw: RawStackConfig) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Model input from raw config: project-namespace keys by name, plus gcp:project."""
    prefix = f"{raw.project}:"
    data: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    for full_key, value in raw.values.items():
        if full_key == PROJECT_KEY:
            data["project"] = value
        elif full_key.startswith(prefix):
            data[full_key.removeprefix(prefix)] = value
    for full_key in sorted(raw.required_keys - set(raw.values)):
        short = full_key.removeprefix(prefix)
        problems.append(
            ConfigProblem(
                short, "missing; Pulumi.yaml requires it in every stack (see docs/configuration.md)"
            )
        )
    return data, problems


# Region fields the cross checks read; a region that failed validation keeps those that passed.
_CROSS_CHECKED_REGION_FIELDS = ("region", "proxy_subnet_cidr", "pods_cidr", "services_cidr")


def _salvage_region(value: Any, error: ValidationError) -> RegionConfig | None:
    if not isinstance(value, Mapping):
        return None
    failed = {detail["loc"][0] for detail in error.errors() if detail["loc"]}
    kept: dict[str, Any] = {}
    for name in _CROSS_CHECKED_REGION_FIELDS:
        alias = RegionConfig.model_fields[name].alias or name
        if alias in value and alias not in failed:
            kept[name] = value[alias]
    # model_construct skips validation: only fields that just validated (or defaults) are set.
    return RegionConfig.model_construct(**kept)


def _partial_parts(data: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level fields (and single regions) that validate on their own, so cross checks still run."""
    parts: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        alias = field.alias or name
        if name == "regions":
            raw_regions = data.get(alias)
            if isinstance(raw_regions, Mapping):
                # Invalid regions stay as None: their names still count (e.g. for fleet.configCluster).
                valid: dict[str, RegionConfig | None] = {}
                for key, value in raw_regions.items():
                    try:
                        valid[str(key)] = RegionConfig.model_validate(value)
                    except ValidationError as error:
                        valid[str(key)] = _salvage_region(value, error)
                parts[name] = valid
            continue
        try:
            if alias in data and field.annotation is not None:
                parts[name] = TypeAdapter(field.annotation).validate_python(data[alias])
            elif not field.is_required():
                parts[name] = field.get_default(call_default_factory=True)
        except ValidationError:
            continue
    return parts


def validate_stack_config(raw: RawStackConfig) -> StackConfig:
    """Validate raw config into a StackConfig, or raise ConfigError listing every problem."""
    data, problems = _stack_data(raw)
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as error:
        problems += [_problem_from_error(detail) for detail in error.errors()]
        # Pydantic skips the model-level checks when a field fails; run them on what did validate
        # (when they did run, this repeats their problems, which ConfigError drops as duplicates).
        parts = _partial_parts(data)
        problems += [
            ConfigProblem(_key_path(loc), message) for check in STACK_CHECKS for loc, message in check(parts)
        ]
        raise ConfigError(problems, source=raw.source) from None
    if problems:
        raise ConfigError(problems, source=raw.source)
    return config


def load_stack_config(source: str | Path | RawStackConfig, project_dir: Path | None = None) -> StackConfig:
    """The validated config of a stack name ('dev'), a stack file path, or raw config from the engine.

    Raises ConfigError (every problem, one per line) for bad values and for unreadable files.
    """
    try:
        if isinstance(source, RawStackConfig):
            raw = source
        elif isinstance(source, Path) or source.endswith((".yaml", ".yml")):
            raw = read_stack_file(Path(source), project_dir)
        else:
            raw = read_stack(source, project_dir)
    except StackFileError as error:
        raise ConfigError([ConfigProblem("stack file", str(error))]) from None
    return validate_stack_config(raw)
