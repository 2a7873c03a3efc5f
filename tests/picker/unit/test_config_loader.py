from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest
from picker.config import (
    ConfigError,
    default_config,
    load_config_file,
    load_config_text,
    precise_config,
    recommended_config,
)
from picker.config.builder import build_scheduling
from picker.config.defaults import profile_config
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.plugins import builtin_registry
from picker.profiles import PROFILE_NAMES, UnknownProfileError, profile_text

HEADER = "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"


def build(text: str):
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    return build_scheduling(load_config_text(HEADER + textwrap.dedent(text)), builtin_registry(), context)


def effective(text: str) -> dict:
    return build(text).effective_config.model_dump(by_alias=True, exclude_defaults=True)


def profile_refs(text: str) -> list[tuple[str, float | None]]:
    profile = effective(text)["schedulingProfiles"][0]
    return [(ref["pluginRef"], ref.get("weight")) for ref in profile["plugins"]]


def test_unnamed_plugins_take_their_type_as_name_and_get_a_default_profile() -> None:
    refs = profile_refs("plugins: [{type: queue-scorer}, {type: kv-cache-utilization-scorer}]")
    assert refs == [("queue-scorer", 1.0), ("kv-cache-utilization-scorer", 1.0), ("max-score-picker", None)]


def test_single_profile_handler_and_max_score_picker_are_added() -> None:
    names = [plugin["name"] for plugin in effective("plugins: [{type: queue-scorer}]")["plugins"]]
    assert names == ["queue-scorer", "max-score-picker", "single-profile-handler"]


def test_explicit_weights_and_picker_are_kept() -> None:
    refs = profile_refs(
        """
        plugins:
        - {type: prefix-cache-scorer, name: prefix}
        - {type: queue-scorer}
        - {type: random-picker, parameters: {maxNumOfEndpoints: 2}}
        schedulingProfiles:
        - name: main
          plugins: [{pluginRef: prefix, weight: 3}, {pluginRef: queue-scorer}, {pluginRef: random-picker}]
        """
    )
    assert refs == [("prefix", 3.0), ("queue-scorer", 1.0), ("random-picker", None)]


def test_two_instances_of_one_type_with_distinct_names() -> None:
    setup = build(
        """
        plugins: [{type: queue-scorer, name: q1}, {type: queue-scorer, name: q2}]
        schedulingProfiles: [{name: p, plugins: [{pluginRef: q1, weight: 2}, {pluginRef: q2}]}]
        """
    )
    assert [w.weight for w in setup.scheduler.profiles["p"].scorers] == [2.0, 1.0]


def test_hooks_are_collected_from_plugins() -> None:
    setup = build("plugins: [{type: prefix-cache-scorer}, {type: queue-scorer}]")
    assert [hook.name for hook in setup.pre_request_hooks] == ["prefix-cache-scorer"]
    assert [pruner.name for pruner in setup.pruners] == ["prefix-cache-scorer"]


BAD_CONFIGS = [
    ("plugins: [{type: no-such-scorer}]", "plugins[0].type", "unknown plugin type 'no-such-scorer'"),
    (
        "plugins: [{type: queue-scorer}, {type: prefix-cache-scorer, parameters: {blockSize: -4}}]",
        "plugins[1].parameters.blockSize",
        "greater than or equal to 1",
    ),
    (
        "plugins: [{type: prefix-cache-scorer, parameters: {blokSize: 16}}]",
        "plugins[0].parameters.blokSize",
        "unknown key",
    ),
    ("plugins: [{type: queue-scorer}, {type: queue-scorer}]", "plugins[1].name", "duplicate plugin name"),
    (
        "plugins: [{type: queue-scorer}]\nschedulingProfiles: [{name: a, plugins: [{pluginRef: queue}]}]",
        "schedulingProfiles[0].plugins[0].pluginRef",
        "no plugin named 'queue'",
    ),
    (
        "plugins: [{type: queue-scorer}]\nschedulingProfiles: [{name: a}, {name: a}]",
        "schedulingProfiles[1].name",
        "duplicate profile name",
    ),
    (
        "plugins: [{type: queue-scorer}, {type: max-score-picker}, {type: random-picker}]\n"
        "schedulingProfiles: [{name: a, plugins: [{pluginRef: max-score-picker}, {pluginRef: random-picker}]}]",
        "schedulingProfiles[0].plugins",
        "at most one picker",
    ),
    (
        "plugins: [{type: queue-scorer}, {type: single-profile-handler}]\nschedulingProfiles: [{name: a}, {name: b}]",
        "schedulingProfiles",
        "single-profile-handler runs exactly one profile",
    ),
    (
        "plugins: [{type: queue-scorer}]\nschedulingProfiles: [{name: a}, {name: b}]",
        "schedulingProfiles",
        "need a ProfileHandler",
    ),
    (
        "plugins: [{type: single-profile-handler, name: h1}, {type: single-profile-handler, name: h2}]",
        "plugins",
        "at most one ProfileHandler",
    ),
    (
        "plugins: [{type: max-score-picker}]\nschedulingProfiles: [{name: a, plugins: [{pluginRef: max-score-picker, weight: 2}]}]",
        "schedulingProfiles[0].plugins[0].weight",
        "weights apply to scorers only",
    ),
    (
        "plugins: [{type: queue-scorer}]\nschedulingProfiles: [{name: a, plugins: [{pluginRef: queue-scorer, weight: 0}]}]",
        "schedulingProfiles[0].plugins[0].weight",
        "greater than 0",
    ),
    ("plugins: []", "plugins", "at least 1 item"),
    (
        "plugins: [{type: queue-scorer}]\nsaturationDetector: {kvCacheUtilThreshold: 1.5}",
        "saturationDetector.kvCacheUtilThreshold",
        "less than 1",
    ),
    (
        "plugins: [{type: queue-scorer}]\nsaturationDetector: {metricsStalenessThreshold: soon}",
        "saturationDetector.metricsStalenessThreshold",
        "is not a duration",
    ),
    (
        "plugins: [{type: queue-scorer}]\nflowControl: {maxQueuedRequests: 0}",
        "flowControl.maxQueuedRequests",
        "greater than or equal to 1",
    ),
    (
        "plugins: [{type: queue-scorer}]\nsheddableHeadroom: {maxInFlightPerEndpoint: 0}",
        "sheddableHeadroom.maxInFlightPerEndpoint",
        "greater than or equal to 1",
    ),
    (
        "plugins: [{type: queue-scorer}]\nsheddableHeadroom: {queueDepthThreshold: -1}",
        "sheddableHeadroom.queueDepthThreshold",
        "greater than or equal to 0",
    ),
    (
        "plugins: [{type: queue-scorer}]\nsheddableHeadroom: {maxInFlight: 1}",
        "sheddableHeadroom.maxInFlight",
        "unknown key",
    ),
    ("plugins: [{type: queue-scorer}]\nschedulingProfile: []", "schedulingProfile", "unknown key"),
]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    BAD_CONFIGS,
    ids=[
        "unknown plugin type",
        "negative blockSize",
        "misspelt parameter",
        "duplicate plugin name",
        "dangling pluginRef",
        "duplicate profile name",
        "two pickers in one profile",
        "single-profile-handler with two profiles",
        "two profiles without handler",
        "two profile handlers",
        "weight on a picker",
        "zero weight",
        "no plugins",
        "kv threshold above 1",
        "unparseable duration",
        "empty flow-control queue",
        "sheddable cap of zero",
        "negative sheddable queue threshold",
        "misspelt sheddable headroom key",
        "misspelt top-level key",
    ],
)
def test_bad_config_names_the_key(body: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(body)
    matching = [issue for issue in raised.value.issues if issue.path == path]
    assert matching, f"no issue at {path}: {raised.value}"
    assert message in matching[0].message
    assert path in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        build("plugins: [{type: nope}, {type: prefix-cache-scorer, parameters: {blockSize: 0}}]")
    assert [issue.path for issue in raised.value.issues] == [
        "plugins[0].type",
        "plugins[1].parameters.blockSize",
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("plugins: [unclosed", "not valid YAML at line 1"),
        ("- just a list", "expected a mapping"),
        ("apiVersion: v2\nplugins: [{type: queue-scorer}]", "apiVersion"),
    ],
    ids=["broken yaml", "not a mapping", "wrong apiVersion"],
)
def test_unreadable_documents(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config_text(text)


def test_durations_accept_go_style_strings() -> None:
    config = load_config_text(
        HEADER + "plugins: [{type: queue-scorer}]\nsaturationDetector: {metricsStalenessThreshold: 1m30s}\n"
        "flowControl: {requestTtl: 1500ms}"
    )
    assert config.saturation_detector.metrics_staleness_threshold == 90.0
    assert config.flow_control.request_ttl == 1.5


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_shipped_profile_builds(name: str) -> None:
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    assert build_scheduling(profile_config(name), builtin_registry(), context).scheduler.profiles


def test_recommended_profile_queues_in_the_picker_and_spills_hot_prefixes() -> None:
    config = recommended_config()
    assert config.flow_control.enabled
    assert config.sheddable_headroom.queue_depth_threshold == 0
    assert [plugin.type for plugin in config.plugins][:2] == ["prefix-spill-scorer", "load-headroom-scorer"]


def test_unknown_profile_names_the_shipped_ones() -> None:
    with pytest.raises(UnknownProfileError, match="default, recommended"):
        profile_text("fastest")


def test_precise_profile_takes_prefix_affinity_from_kv_events(plugin_context) -> None:
    config = precise_config()
    assert [plugin.type for plugin in config.plugins][:2] == [
        "precise-prefix-cache-scorer",
        "load-headroom-scorer",
    ]
    assert config.flow_control == recommended_config().flow_control
    setup = build_scheduling(config, builtin_registry(), plugin_context)
    assert [plugin.name for plugin in setup.background_plugins] == ["precise-prefix-cache-scorer"]


def test_precise_profile_places_new_prefixes_by_this_process_footprint() -> None:
    # One picker process is the default deployment: rendezvous placement (for --workers > 1 and active-active
    # replicas) lost 15 points of the bound on capacity-bound-chat there.
    scorer = next(plugin for plugin in precise_config().plugins if plugin.type == "precise-prefix-cache-scorer")
    assert scorer.parameters["coldPlacement"] == "footprint"
    assert scorer.parameters["coldPlacementWeight"] > 0


def test_default_config_resolves_to_the_epp_default_profile() -> None:
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    setup = build_scheduling(default_config(), builtin_registry(), context)
    profile = setup.scheduler.profiles["default"]
    assert [(w.scorer.plugin_type, w.weight) for w in profile.scorers] == [
        ("queue-scorer", 1.0),
        ("kv-cache-utilization-scorer", 1.0),
        ("prefix-cache-scorer", 1.0),
    ]
    assert profile.picker.plugin_type == "max-score-picker"
    assert not setup.effective_config.flow_control.enabled


def test_a_hand_validating_factory_error_is_reported_with_its_path() -> None:
    registry = builtin_registry()

    def strict_factory(name, parameters, context):
        raise ValueError("mode must be 'fast' or 'slow'")

    registry.register("custom-scorer", strict_factory)
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    config = load_config_text(
        HEADER + "plugins: [{type: queue-scorer}, {type: custom-scorer, parameters: {mode: x}}]"
    )
    with pytest.raises(ConfigError) as raised:
        build_scheduling(config, registry, context)
    assert [(i.path, i.message) for i in raised.value.issues] == [
        ("plugins[1].parameters", "mode must be 'fast' or 'slow'")
    ]
