"""EndpointPickerConfig (inference.networking.x-k8s.io/v1alpha1): the picker's plugin file.

Not a served API: it lives in a ConfigMap mounted into the picker, read once at startup, with the EPP's
reference rules (unique plugin names, every pluginRef defined).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from components.crds.api_versions import ENDPOINT_PICKER_CONFIG, ApiKind
from components.crds.base import CrdModel


class PluginSpec(CrdModel):
    type: str = Field(min_length=1)
    # Defaults to the type, as the EPP does.
    name: str | None = None
    parameters: dict[str, Any] | None = None

    @property
    def effective_name(self) -> str:
        return self.name or self.type


class ProfilePluginRef(CrdModel):
    plugin_ref: str = Field(min_length=1)
    weight: int | None = Field(default=None, ge=0)


class SchedulingProfile(CrdModel):
    name: str = Field(min_length=1)
    plugins: list[ProfilePluginRef] = Field(min_length=1)


class EndpointPickerConfig(CrdModel):
    API: ClassVar[ApiKind] = ENDPOINT_PICKER_CONFIG

    api_version: Literal["inference.networking.x-k8s.io/v1alpha1"] = "inference.networking.x-k8s.io/v1alpha1"
    kind: Literal["EndpointPickerConfig"] = "EndpointPickerConfig"
    plugins: list[PluginSpec] = Field(min_length=1)
    scheduling_profiles: list[SchedulingProfile] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> EndpointPickerConfig:
        names = [plugin.effective_name for plugin in self.plugins]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"plugin names must be unique; duplicated: {duplicated}")
        for p_index, profile in enumerate(self.scheduling_profiles):
            for r_index, ref in enumerate(profile.plugins):
                if ref.plugin_ref not in names:
                    raise ValueError(
                        f"schedulingProfiles[{p_index}].plugins[{r_index}].pluginRef {ref.plugin_ref!r} "
                        f"names no plugin; defined: {names}"
                    )
        profile_names = [profile.name for profile in self.scheduling_profiles]
        if len(set(profile_names)) != len(profile_names):
            raise ValueError(f"schedulingProfiles names must be unique, got {profile_names}")
        return self

    @classmethod
    def default_scorers(
        cls, queue_weight: int = 2, kv_cache_weight: int = 2, prefix_weight: int = 3
    ) -> EndpointPickerConfig:
        """Queue depth, KV-cache utilization and prefix-cache affinity in one profile (GIE >= v1.2 weights)."""
        scorers = {
            "queue-scorer": queue_weight,
            "kv-cache-utilization-scorer": kv_cache_weight,
            "prefix-cache-scorer": prefix_weight,
        }
        return cls(
            plugins=[PluginSpec(type=name) for name in [*scorers, "max-score-picker"]],
            scheduling_profiles=[
                SchedulingProfile(
                    name="default",
                    plugins=[
                        *(
                            ProfilePluginRef(plugin_ref=name, weight=weight)
                            for name, weight in scorers.items()
                        ),
                        ProfilePluginRef(plugin_ref="max-score-picker"),
                    ],
                )
            ],
        )
