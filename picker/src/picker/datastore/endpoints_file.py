"""The static endpoints file (``--endpoints-file``): pool membership and objective priorities for local
runs without Kubernetes. The picker reads it; whatever starts a picker writes it with
:meth:`StaticPoolFile.write` instead of composing the YAML by hand.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from picker.config.errors import ConfigError, ConfigIssue, issues_from_validation_error


class _StaticModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticEndpoint(_StaticModel):
    name: str = Field(min_length=1, max_length=253)
    address: str = Field(
        description="an IP address: it is written verbatim into x-gateway-destination-endpoint"
    )
    port: int = Field(ge=1, le=65535)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("address")
    @classmethod
    def _must_be_ip(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address; Envoy's ORIGINAL_DST routing needs an IP"
            ) from None


class StaticObjective(_StaticModel):
    name: str = Field(min_length=1, max_length=253)
    priority: int = 0


class StaticPoolFile(_StaticModel):
    """``endpoints: [{name, address, port, labels?}]`` and ``objectives: [{name, priority}]``."""

    endpoints: list[StaticEndpoint] = Field(default_factory=list)
    objectives: list[StaticObjective] = Field(default_factory=list)

    @classmethod
    def of(cls, endpoints: list[StaticEndpoint], objectives: dict[str, int] | None = None) -> StaticPoolFile:
        """The file for ``endpoints`` and ``objectives`` (name -> priority)."""
        return cls(
            endpoints=endpoints,
            objectives=[StaticObjective(name=name, priority=p) for name, p in (objectives or {}).items()],
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def write(self, path: Path) -> Path:
        """Write the file whole, by rename, so a running picker (which reloads it when its mtime or size
        changes) never reads half of it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.new")
        staged.write_text(self.to_yaml(), encoding="utf-8")
        staged.replace(path)
        return path


def parse_static_pool(text: str, source: str = "static endpoints file") -> StaticPoolFile:
    """Validate the file's text. Raises ConfigError with indexed paths (``endpoints[1].port``)."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError([ConfigIssue("", f"not valid YAML: {error}")], source) from None
    if not isinstance(document, dict):
        raise ConfigError([ConfigIssue("", "expected a mapping with 'endpoints' and 'objectives'")], source)
    try:
        pool = StaticPoolFile.model_validate(document)
    except ValidationError as error:
        raise ConfigError(issues_from_validation_error(error), source) from None
    issues: list[ConfigIssue] = []
    for kind, names in (
        ("endpoints", [e.name for e in pool.endpoints]),
        ("objectives", [o.name for o in pool.objectives]),
    ):
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                issues.append(ConfigIssue(f"{kind}[{index}].name", f"duplicate name {name!r}"))
            seen.add(name)
    if issues:
        raise ConfigError(issues, source)
    return pool
