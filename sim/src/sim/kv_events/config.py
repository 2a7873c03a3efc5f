"""vLLM's ``--kv-events-config``: the same JSON keys, defaults and endpoint rules (vllm/config/kv_events.py)."""

from __future__ import annotations

import enum
import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class KVEventsConfigError(ValueError):
    """A bad ``--kv-events-config``; the message names the key and the fix."""


class EventEncoding(enum.StrEnum):
    """How each event is encoded inside a batch (the batch itself is always an array, as vLLM sends it).

    ``map``: a ``"type"``-tagged map per event, what vLLM emits since PR #42892 (v0.26 captures show it).
    ``array``: the positional ``["BlockStored", ...]`` form of vLLM up to at least v0.23.
    """

    MAP = "map"
    ARRAY = "array"


class KVEventsConfig(BaseModel):
    """Field for field vLLM's ``KVEventsConfig``; unknown keys are errors, as in vLLM."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enable_kv_cache_events: bool = False
    publisher: str | None = Field(default=None, description='"zmq" or "null"; default zmq when enabled.')
    endpoint: str = "tcp://*:5557"
    replay_endpoint: str | None = None
    buffer_steps: int = Field(default=10_000, gt=0)
    hwm: int = Field(default=100_000, ge=0)
    max_queue_size: int = Field(default=100_000, gt=0)
    topic: str = ""

    @model_validator(mode="after")
    def _resolve_publisher(self) -> KVEventsConfig:
        if self.publisher is None:
            resolved = "zmq" if self.enable_kv_cache_events else "null"
            object.__setattr__(self, "publisher", resolved)
        if self.publisher not in ("zmq", "null"):
            raise ValueError(f'publisher must be "zmq" or "null", got {self.publisher!r}')
        return self

    @property
    def publishes(self) -> bool:
        return self.enable_kv_cache_events and self.publisher == "zmq"

    @classmethod
    def from_json(cls, text: str) -> KVEventsConfig:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise KVEventsConfigError(
                f"--kv-events-config is not valid JSON ({err}); pass an object such as "
                '\'{"enable_kv_cache_events": true, "endpoint": "tcp://*:5557"}\''
            ) from err
        if not isinstance(values, dict):
            raise KVEventsConfigError("--kv-events-config must be a JSON object")
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
                for error in err.errors()
            )
            raise KVEventsConfigError(f"--kv-events-config: {problems}") from err


def binds(endpoint: str) -> bool:
    """vLLM's rule: bind when the address has a wildcard or is ipc/inproc, connect otherwise."""
    return "*" in endpoint or "::" in endpoint or endpoint.startswith(("ipc://", "inproc://"))
