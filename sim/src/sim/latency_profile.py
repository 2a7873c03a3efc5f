"""Latency profiles: the per-step cost model of one model on one accelerator, loaded from YAML."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ProfileError(ValueError):
    """A profile that cannot be found or does not validate."""


class LatencyProfile(BaseModel):
    """Step-time model: ``step_s = overhead + per_seq*decode_seqs + per_prefill_token*prefill + per_ctx*ctx``.

    It also carries how long an adapter takes to load, the KV-cache size, the default context window and
    how long unconstrained answers run. Shipped profiles live in ``sim/profiles/*.yaml``; a path to any
    YAML file of the same shape works too.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    model: str = Field(description="The model the figures describe.")
    hardware: str = Field(description="The accelerator the figures describe.")
    step_overhead_s: float = Field(ge=0, description="Fixed cost of one engine step (weights read, launch).")
    decode_per_seq_s: float = Field(ge=0, description="Added step time per sequence decoding in the step.")
    prefill_per_token_s: float = Field(ge=0, description="Added step time per prompt token computed.")
    kv_read_per_token_s: float = Field(ge=0, description="Added step time per context token attended over.")
    lora_load_s: float = Field(ge=0, description="Time to bring an adapter into a GPU LoRA slot.")
    num_gpu_blocks: int = Field(gt=0, description="KV-cache capacity in blocks (of block_size tokens).")
    max_model_len: int = Field(gt=0, description="Default context window (prompt + output tokens).")
    output_tokens_median: float = Field(gt=0, description="Median length of an answer that ends by itself.")
    output_tokens_sigma: float = Field(ge=0, description="Log-normal sigma of natural answer lengths.")
    sources: list[str] = Field(default_factory=list)

    def step_time_s(self, decode_seqs: int, prefill_tokens: int, context_tokens: int) -> float:
        if decode_seqs == 0 and prefill_tokens == 0:
            return 0.0
        return (
            self.step_overhead_s
            + self.decode_per_seq_s * decode_seqs
            + self.prefill_per_token_s * prefill_tokens
            + self.kv_read_per_token_s * context_tokens
        )


def shipped_profile_names() -> list[str]:
    folder = resources.files("sim").joinpath("profiles")
    return sorted(
        entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def load_profile(name_or_path: str) -> LatencyProfile:
    """Load a shipped profile by name (``h100-llama3.1-8b``) or any profile YAML by path."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(
                f"latency profile file {name_or_path!r} does not exist; shipped profiles: {shipped_profile_names()}"
            )
        text, origin = path.read_text(encoding="utf-8"), str(path)
    else:
        entry = resources.files("sim").joinpath("profiles", f"{name_or_path}.yaml")
        if not entry.is_file():
            raise ProfileError(
                f"unknown latency profile {name_or_path!r}; shipped profiles: {shipped_profile_names()} "
                "(or pass a path to a profile YAML)"
            )
        text, origin = entry.read_text(encoding="utf-8"), f"sim/profiles/{name_or_path}.yaml"
    try:
        return LatencyProfile.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as err:
        raise ProfileError(f"latency profile {origin} is invalid: {err}") from err
