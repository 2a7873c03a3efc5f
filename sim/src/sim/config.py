"""``SimConfig``: everything one simulated replica is started with, validated before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chat_prompt import ChatTemplate, ChatTemplateError
from sim.engine import EngineConfig, SchedulingPolicy
from sim.kv_events.config import EventEncoding, KVEventsConfig
from sim.latency_profile import LatencyProfile, load_profile


class ConfigError(ValueError):
    """Bad simulator configuration; the message names the key and the fix."""


class LoraModule(BaseModel):
    """An adapter served from startup, as vLLM's ``--lora-modules`` takes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    path: str | None = None
    base_model_name: str | None = None

    @classmethod
    def parse(cls, spec: str) -> LoraModule:
        """Accept vLLM's two spellings: ``name=path`` or a JSON object ``{"name": ..., "path": ...}``."""
        spec = spec.strip()
        if spec.startswith("{"):
            try:
                return cls.model_validate(json.loads(spec))
            except (json.JSONDecodeError, ValidationError) as err:
                raise ConfigError(
                    f"--lora-modules entry {spec!r} is not a valid adapter object: {err}"
                ) from err
        name, sep, path = spec.partition("=")
        if not name:
            raise ConfigError(f"--lora-modules entry {spec!r} needs a name: use name=path or a JSON object")
        return cls(name=name, path=path if sep else None)


class FaultConfig(BaseModel):
    """Deliberate misbehaviour, for testing what the gateway does with a bad replica."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of generation requests failed.")
    error_status: int = Field(default=500, description="HTTP status of injected failures.")
    extra_latency_s: float = Field(
        default=0.0, ge=0.0, description="Fixed delay before each generation starts."
    )
    slowdown_factor: float = Field(
        default=1.0, ge=1.0, description="Multiplies every engine step's duration."
    )
    hang_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of requests never answered.")
    cut_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of requests whose connection drops."
    )
    cut_after_tokens: int = Field(
        default=1, ge=0, description="Tokens streamed before a cut connection drops."
    )

    @model_validator(mode="after")
    def _rates_are_shares_of_one_draw(self) -> FaultConfig:
        total = self.error_rate + self.hang_rate + self.cut_rate
        if total > 1.0:
            raise ValueError(f"error_rate + hang_rate + cut_rate must be at most 1, got {total:g}")
        return self

    @field_validator("error_status")
    @classmethod
    def _error_status_is_an_error(cls, status: int) -> int:
        if not 400 <= status <= 599:
            raise ValueError(f"error_status must be a 4xx or 5xx HTTP status, got {status}")
        return status


_ENGINE_FIELDS = EngineConfig.model_fields


class SimConfig(BaseModel):
    """One replica's settings. Field names follow vLLM's flags (``max_num_seqs`` is ``--max-num-seqs``).

    Values come from a YAML file, keyword arguments or the CLI; unknown keys are errors, so a typo never
    silently falls back to a default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "meta-llama/Llama-3.1-8B-Instruct"
    served_model_name: list[str] = Field(default_factory=list, description="Names accepted; default [model].")
    lora_modules: list[LoraModule] = Field(default_factory=list)
    name: str | None = Field(default=None, description="Replica name reported in x-sim-replica and /health.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port.")
    seed: int = 0
    profile: str = Field(
        default="h100-llama3.1-8b", description="Shipped profile name or a profile YAML path."
    )
    mode: str = Field(
        default="random", pattern="^(random|echo)$", description="random text or echo the prompt."
    )
    # The engine's flags take the engine's defaults (defined once, in EngineConfig).
    max_num_seqs: int = Field(default=_ENGINE_FIELDS["max_num_seqs"].default, gt=0)
    max_num_batched_tokens: int = Field(default=_ENGINE_FIELDS["max_num_batched_tokens"].default, gt=0)
    max_model_len: int | None = Field(default=None, gt=0, description="Default: the profile's.")
    num_gpu_blocks: int | None = Field(default=None, gt=0, description="Default: the profile's.")
    block_size: int = Field(
        default=_ENGINE_FIELDS["block_size"].default,
        description="KV block size in tokens (vLLM allows 8..128).",
    )
    max_loras: int = Field(default=_ENGINE_FIELDS["max_loras"].default, ge=0)
    enable_lora: bool | None = Field(
        default=None,
        description="vLLM's --enable-lora. None: adapters allowed (the simulator's default); False: "
        "lora_modules and runtime loads are refused, as vLLM without --enable-lora does.",
    )
    enable_prefix_caching: bool = _ENGINE_FIELDS["enable_prefix_caching"].default
    scheduling_policy: SchedulingPolicy = Field(
        default=_ENGINE_FIELDS["scheduling_policy"].default,
        description="fcfs: arrival order; priority: the request's `priority` (lower first), then arrival.",
    )
    max_request_body_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    shutdown_timeout_s: float = Field(default=2.0, ge=0, description="Grace for in-flight requests on stop.")
    faults: FaultConfig = Field(default_factory=FaultConfig)
    tokenizer: str | None = Field(
        default=None,
        description="Directory with a model's tokenizer.json (+ tokenizer_config.json); default: approximate.",
    )
    chat_template: str | None = Field(
        default=None, description="Jinja chat template: a file path or the template text (vLLM's flag)."
    )
    kv_events_config: KVEventsConfig | None = Field(
        default=None, description="vLLM's --kv-events-config (KV-cache events over ZMQ)."
    )
    kv_events_encoding: EventEncoding = Field(
        default=EventEncoding.MAP, description="map (vLLM >= 0.24) or array (older vLLM) event encoding."
    )
    kv_events_int_block_hashes: bool = Field(
        default=True, description="VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES: uint64 hashes, else raw bytes."
    )

    @field_validator("block_size")
    @classmethod
    def _block_size_is_supported(cls, block_size: int) -> int:
        if block_size not in (8, 16, 32, 64, 128):
            raise ValueError(
                f"block_size must be one of 8, 16, 32, 64, 128 (vLLM's choices), got {block_size}"
            )
        return block_size

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer_files_exist(cls, tokenizer: str | None) -> str | None:
        if tokenizer is not None and not (Path(tokenizer) / "tokenizer.json").is_file():
            raise ValueError(
                f"{tokenizer}/tokenizer.json does not exist; point tokenizer at a local directory holding "
                "the model's tokenizer.json (and tokenizer_config.json for its chat template)"
            )
        return tokenizer

    @model_validator(mode="after")
    def _adapters_need_slots(self) -> SimConfig:
        if self.lora_modules and self.enable_lora is False:
            raise ValueError(
                "lora_modules are set but enable_lora is false; pass --enable-lora (as vLLM needs)"
            )
        if self.lora_modules and self.max_loras < 1:
            raise ValueError("lora_modules are set but max_loras is 0; set max_loras to at least 1")
        names = [module.name for module in self.lora_modules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"lora_modules names must be unique; repeated: {duplicates}")
        clashes = sorted(set(names) & set(self.model_names))
        if clashes:
            raise ValueError(
                f"lora_modules names {clashes} clash with served model names; rename the adapters"
            )
        return self

    @property
    def model_names(self) -> list[str]:
        return self.served_model_name or [self.model]

    def load_profile(self) -> LatencyProfile:
        try:
            return load_profile(self.profile)
        except ValueError as err:
            raise ConfigError(f"profile: {err}") from err

    def load_chat_template(self) -> ChatTemplate:
        """vLLM's: ``chat_template`` (a file or the text), else the tokenizer's, else the Llama 3 format."""
        try:
            return ChatTemplate.load(
                Path(self.tokenizer) if self.tokenizer is not None else None, self.chat_template
            )
        except ChatTemplateError as err:
            raise ConfigError(f"chat_template: {err}") from err

    def engine_config(self, profile: LatencyProfile) -> EngineConfig:
        try:
            return EngineConfig(
                profile=profile,
                max_num_seqs=self.max_num_seqs,
                max_num_batched_tokens=self.max_num_batched_tokens,
                block_size=self.block_size,
                num_gpu_blocks=self.num_gpu_blocks or profile.num_gpu_blocks,
                max_model_len=self.max_model_len or profile.max_model_len,
                max_loras=self.max_loras,
                enable_prefix_caching=self.enable_prefix_caching,
                scheduling_policy=self.scheduling_policy,
                slowdown_factor=self.faults.slowdown_factor,
            )
        except ValidationError as err:
            raise ConfigError(_describe(err)) from err

    @classmethod
    def build(cls, **values: object) -> SimConfig:
        """Validate keyword values, turning pydantic's report into a ConfigError naming each key."""
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            raise ConfigError(_describe(err)) from err

    @classmethod
    def from_yaml(cls, path: Path, **overrides: object) -> SimConfig:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read simulator config {path}: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"simulator config {path} must be a mapping of keys to values")
        values = {str(key).replace("-", "_"): value for key, value in loaded.items()}
        return cls.build(**(values | overrides))


def _describe(err: ValidationError) -> str:
    problems = []
    for issue in err.errors():
        key = ".".join(str(part) for part in issue["loc"]) or "config"
        problems.append(f"{key}: {issue['msg']}")
    return "invalid simulator config: " + "; ".join(problems)
