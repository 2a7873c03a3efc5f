"""The shipped profiles as configs: each is loaded from its YAML file in ``picker.profiles``, the one
definition the stack deploys and the local gateway runs."""

from __future__ import annotations

from picker.config.loader import load_config_text
from picker.config.model import EndpointPickerConfig
from picker.profiles import profile_text


def profile_config(name: str) -> EndpointPickerConfig:
    """A shipped profile by name (``picker.profiles.PROFILE_NAMES``), validated by the loader."""
    return load_config_text(profile_text(name), source=f"profile {name!r}")


def default_config() -> EndpointPickerConfig:
    """The EPP v1.1 chart default: queue, KV-cache and prefix scorers at weight 1, legacy admission only.

    The builder adds ``single-profile-handler`` and ``max-score-picker`` as the EPP does.
    """
    return profile_config("default")


def recommended_config() -> EndpointPickerConfig:
    """This project's profile: prefix affinity that spills hot prefixes, load headroom, LoRA affinity,
    flow control, no sheddable request where anything waits (picker/PLUGINS.md)."""
    return profile_config("recommended")


def precise_config() -> EndpointPickerConfig:
    """The recommended profile with prefix affinity from the servers' KV events (precise-prefix-cache-scorer,
    llm-d's pod-discovery mode on ports 5557/5558) instead of routing history (picker/PLUGINS.md)."""
    return profile_config("precise")


def llm_d_default_config() -> EndpointPickerConfig:
    """llm-d's guide default on llm-d-router v0.10 (optimized-baseline, "sticky until saturated"):
    prefix-cache-affinity-filter then token-load-scorer, fed by the in-flight and approximate prefix
    producers (picker/PLUGINS.md)."""
    return profile_config("llm-d-default")
