"""Pool membership and objective priorities from a YAML file, for local runs without Kubernetes.

The file is re-read when it changes; a bad edit is logged and the last good state stays in force.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from picker.config.errors import ConfigError, ConfigIssue, issues_from_validation_error
from picker.datastore.store import EndpointStore
from picker.framework.clock import Clock
from picker.framework.types import Endpoint

logger = logging.getLogger(__name__)


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


class StaticEndpointSource:
    """Loads the file into the store now (:meth:`load`) and on every change while :meth:`run` runs."""

    def __init__(
        self, path: str | Path, store: EndpointStore, clock: Clock, poll_interval_s: float = 1.0
    ) -> None:
        self._path = Path(path)
        self._store = store
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._loaded_stamp: tuple[int, int] | None = None

    def load(self) -> StaticPoolFile:
        """Read, validate and apply the file. Raises ConfigError and changes nothing when it is invalid."""
        try:
            stat = self._path.stat()
            text = self._path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError([ConfigIssue("", f"cannot read: {error.strerror}")], str(self._path)) from None
        pool = parse_static_pool(text, str(self._path))
        self._store.replace_endpoints(
            Endpoint(name=e.name, address=e.address, port=e.port, labels=dict(e.labels))
            for e in pool.endpoints
        )
        self._store.replace_objectives({objective.name: objective.priority for objective in pool.objectives})
        self._store.mark_synced()
        self._loaded_stamp = (stat.st_mtime_ns, stat.st_size)
        return pool

    async def run(self) -> None:
        """Reload whenever the file's mtime or size changes; keep the last good state on errors."""
        while True:
            await self._clock.sleep(self._poll_interval_s)
            try:
                stat = self._path.stat()
            except OSError:
                continue
            if (stat.st_mtime_ns, stat.st_size) == self._loaded_stamp:
                continue
            try:
                self.load()
                logger.info("reloaded static endpoints from %s", self._path)
            except ConfigError as error:
                self._loaded_stamp = (stat.st_mtime_ns, stat.st_size)  # report each bad version once
                logger.error("keeping the previous endpoints: %s", error)
