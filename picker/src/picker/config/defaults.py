"""The two shipped configurations: the EPP's default profile and this project's recommended one.

``picker/config/default.yaml`` and ``picker/config/recommended.yaml`` are the same configurations as files
(a unit test keeps them equal).
"""

from __future__ import annotations

from picker.config.model import (
    EndpointPickerConfig,
    FlowControlConfig,
    PluginRef,
    PluginSpec,
    SchedulingProfileSpec,
    SheddableHeadroomConfig,
)


def default_config() -> EndpointPickerConfig:
    """The EPP v1.1 chart default: queue, KV-cache and prefix scorers at weight 1, legacy admission only.

    The loader adds ``single-profile-handler`` and ``max-score-picker`` as the EPP does.
    """
    scorer_types = ("queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer")
    return EndpointPickerConfig(
        plugins=[PluginSpec(type=plugin_type) for plugin_type in scorer_types],
        scheduling_profiles=[
            SchedulingProfileSpec(
                name="default", plugins=[PluginRef(plugin_ref=name) for name in scorer_types]
            )
        ],
    )


def recommended_config() -> EndpointPickerConfig:
    """Prefix affinity that spills hot prefixes, load from running + in-flight + KV headroom, LoRA affinity,
    the picker-side flow-control queue with a 30 s TTL, and no sheddable request where anything waits."""
    return EndpointPickerConfig(
        plugins=[
            PluginSpec(
                type="prefix-spill-scorer",
                parameters={
                    "blockSize": 64,
                    "maxPrefixBlocksToMatch": 256,
                    "lruCapacityPerServer": 31250,
                    "queueDepthThreshold": 2,
                    "kvCacheUtilThreshold": 0.95,
                    "saturatedMatchFactor": 0.0,
                },
            ),
            PluginSpec(
                type="load-headroom-scorer",
                parameters={"busyScale": 8, "queueWeight": 2, "kvHeadroomThreshold": 0.8},
            ),
            PluginSpec(type="lora-affinity-scorer"),
            PluginSpec(type="max-score-picker", parameters={"maxNumOfEndpoints": 1}),
        ],
        scheduling_profiles=[
            SchedulingProfileSpec(
                name="default",
                plugins=[
                    PluginRef(plugin_ref="prefix-spill-scorer", weight=3),
                    PluginRef(plugin_ref="load-headroom-scorer", weight=2),
                    PluginRef(plugin_ref="lora-affinity-scorer", weight=1),
                    PluginRef(plugin_ref="max-score-picker"),
                ],
            )
        ],
        flow_control=FlowControlConfig(enabled=True, request_ttl=30.0, max_queued_requests=1000),
        sheddable_headroom=SheddableHeadroomConfig(queue_depth_threshold=0),
    )
