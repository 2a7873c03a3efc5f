"""The EndpointPickerConfig file format (EPP ``inference.networking.x-k8s.io/v1alpha1``) as pydantic models.

This module checks shape and cross-references; plugin types, parameters and the defaulting rules that
need plugin kinds are applied by ``picker.config.builder``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from picker.config.durations import parse_duration_s
from picker.config.errors import ConfigIssue

API_VERSION: Final = "inference.networking.x-k8s.io/v1alpha1"
KIND: Final = "EndpointPickerConfig"

DurationSeconds = Annotated[float, BeforeValidator(parse_duration_s)]


class _ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class PluginSpec(_ConfigModel):
    """One plugin instance; ``name`` defaults to ``type``. ``parameters`` are validated by the plugin's factory."""

    type: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)

    @property
    def effective_name(self) -> str:
        return self.name or self.type


class PluginRef(_ConfigModel):
    """A profile's use of a plugin; ``weight`` applies to scorers only (defaults to 1)."""

    plugin_ref: str = Field(min_length=1)
    weight: float | None = Field(default=None, gt=0)


class SchedulingProfileSpec(_ConfigModel):
    name: str = Field(min_length=1)
    plugins: list[PluginRef] = Field(default_factory=list)


class SaturationDetectorConfig(_ConfigModel):
    """A candidate has capacity when its metrics are fresh, its queue and its KV usage are under the
    thresholds; the candidate set is saturated when none has capacity (EPP ``SD_*`` defaults)."""

    queue_depth_threshold: int = Field(default=5, gt=0)
    kv_cache_util_threshold: float = Field(default=0.8, gt=0.0, lt=1.0)
    metrics_staleness_threshold: DurationSeconds = Field(default=0.2, gt=0.0)


class FlowControlConfig(_ConfigModel):
    """The picker-side queue: strict priority between levels, round-robin between fairness ids, FCFS per flow."""

    enabled: bool = False
    max_queued_requests: int = Field(default=1000, ge=1, description="429 once this many wait")
    max_queued_bytes: int = Field(default=1_000_000_000, ge=1, description="429 once queued bodies exceed it")
    request_ttl: DurationSeconds = Field(
        default=30.0, ge=0.0, description="503 after waiting this long; 0 = none"
    )
    dispatch_interval: DurationSeconds = Field(
        default=0.005, gt=0.0, description="how often waiting requests re-check capacity between events"
    )
    max_in_flight_per_endpoint: int | None = Field(
        default=None, ge=1, description="an endpoint with this many picker in-flight requests has no capacity"
    )


class SheddableHeadroomConfig(_ConfigModel):
    """Project extension, not in the EPP (off unless a key is set): capacity held back from sheddable
    (priority < 0) requests, so a priority >= 0 request finds a free sequence slot instead of waiting for a
    sheddable one to finish (model servers do not preempt). An endpoint qualifies for a sheddable request
    only if it passes every rule that is set; a sheddable request left with no qualifying candidate gets 429.
    """

    max_in_flight_per_endpoint: int | None = Field(
        default=None,
        ge=1,
        description="an endpoint with this many sheddable requests in flight from this picker takes no more",
    )
    queue_depth_threshold: int | None = Field(
        default=None,
        ge=0,
        description="an endpoint with more requests waiting (scraped, corrected by in-flight) takes no "
        "sheddable request; 0 = never where anything waits",
    )

    @property
    def enabled(self) -> bool:
        return self.max_in_flight_per_endpoint is not None or self.queue_depth_threshold is not None


class EndpointPickerConfig(_ConfigModel):
    """The whole file. Unknown keys are errors (the EPP decodes strictly)."""

    api_version: Literal["inference.networking.x-k8s.io/v1alpha1"] = API_VERSION
    kind: Literal["EndpointPickerConfig"] = KIND
    plugins: list[PluginSpec] = Field(min_length=1)
    scheduling_profiles: list[SchedulingProfileSpec] = Field(default_factory=list)
    saturation_detector: SaturationDetectorConfig = Field(default_factory=SaturationDetectorConfig)
    flow_control: FlowControlConfig = Field(default_factory=FlowControlConfig)
    sheddable_headroom: SheddableHeadroomConfig = Field(default_factory=SheddableHeadroomConfig)


def reference_issues(config: EndpointPickerConfig) -> list[ConfigIssue]:
    """Duplicate names and dangling ``pluginRef``s, each with its indexed path."""
    issues: list[ConfigIssue] = []
    seen_plugins: dict[str, int] = {}
    for index, plugin in enumerate(config.plugins):
        name = plugin.effective_name
        if name in seen_plugins:
            issues.append(
                ConfigIssue(
                    f"plugins[{index}].name",
                    f"duplicate plugin name {name!r} (also plugins[{seen_plugins[name]}]); give each instance "
                    "a distinct name",
                )
            )
        seen_plugins.setdefault(name, index)
    seen_profiles: dict[str, int] = {}
    for index, profile in enumerate(config.scheduling_profiles):
        if profile.name in seen_profiles:
            issues.append(
                ConfigIssue(f"schedulingProfiles[{index}].name", f"duplicate profile name {profile.name!r}")
            )
        seen_profiles.setdefault(profile.name, index)
        for ref_index, ref in enumerate(profile.plugins):
            if ref.plugin_ref not in seen_plugins:
                issues.append(
                    ConfigIssue(
                        f"schedulingProfiles[{index}].plugins[{ref_index}].pluginRef",
                        f"no plugin named {ref.plugin_ref!r}; defined plugins: {', '.join(sorted(seen_plugins))}",
                    )
                )
    return issues
