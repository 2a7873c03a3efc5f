"""Turns an EndpointPickerConfig into live plugins and a Scheduler, applying the EPP's defaulting rules.

Defaulting (inference-extension.md 4.1): unnamed plugins are named after their type; no profiles -> one
``default`` profile with every Filter, Scorer and Picker; one profile and no ProfileHandler -> add
``single-profile-handler``; scorers without weight -> 1; no Picker anywhere -> add ``max-score-picker`` and
reference it from every profile without a picker. Every problem is reported with its indexed path before
anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from picker.config.errors import ConfigError, ConfigIssue, issues_from_validation_error
from picker.config.model import (
    EndpointPickerConfig,
    PluginRef,
    PluginSpec,
    SchedulingProfileSpec,
    reference_issues,
)
from picker.framework.context import PluginContext
from picker.framework.interfaces import (
    BackgroundPlugin,
    EndpointPruner,
    Filter,
    Picker,
    Plugin,
    PoolWatcher,
    PreRequest,
    ProfileHandler,
    RequestReleased,
    ResponseComplete,
    ResponseStarted,
    Scorer,
    WeightedScorer,
)
from picker.framework.producers import ProducerConsumer
from picker.framework.registry import PluginRegistry, UnknownPluginTypeError
from picker.framework.scheduler import PluginDurationObserver, Scheduler, SchedulerProfile
from picker.plugins.max_score_picker import MAX_SCORE_PICKER_TYPE
from picker.plugins.single_profile_handler import SINGLE_PROFILE_HANDLER_TYPE

DEFAULT_PROFILE_NAME = "default"


@dataclass(frozen=True, slots=True)
class SchedulingSetup:
    """Everything the director needs from the config: the scheduler and the plugins' lifecycle hooks."""

    scheduler: Scheduler
    plugins: Mapping[str, Plugin]
    effective_config: EndpointPickerConfig  # the config after defaulting, for logs and tests
    pre_request_hooks: tuple[PreRequest, ...]
    response_complete_hooks: tuple[ResponseComplete, ...]
    pruners: tuple[EndpointPruner, ...]
    pool_watchers: tuple[PoolWatcher, ...] = ()
    background_plugins: tuple[BackgroundPlugin, ...] = ()
    response_started_hooks: tuple[ResponseStarted, ...] = ()
    released_hooks: tuple[RequestReleased, ...] = ()


def build_scheduling(
    config: EndpointPickerConfig,
    registry: PluginRegistry,
    context: PluginContext,
    observe: PluginDurationObserver | None = None,
) -> SchedulingSetup:
    """Instantiate, default and validate. Raises ConfigError listing every problem found."""
    issues = reference_issues(config)
    if issues:
        raise ConfigError(issues)
    specs = list(config.plugins)
    plugins: dict[str, Plugin] = {}
    for index, spec in enumerate(specs):
        try:
            plugins[spec.effective_name] = registry.create(
                spec.type, spec.effective_name, spec.parameters, context
            )
        except UnknownPluginTypeError:
            issues.append(
                ConfigIssue(
                    f"plugins[{index}].type",
                    f"unknown plugin type {spec.type!r}; registered types: {', '.join(registry.types())}",
                )
            )
        except ValidationError as error:
            issues.extend(issues_from_validation_error(error, f"plugins[{index}].parameters"))
        except (ValueError, TypeError) as error:  # an out-of-tree factory validating by hand
            issues.append(ConfigIssue(f"plugins[{index}].parameters", str(error)))
    if issues:
        raise ConfigError(issues)
    for index, spec in enumerate(specs):  # producers by name, now that every plugin exists
        consumer = plugins[spec.effective_name]
        if isinstance(consumer, ProducerConsumer):
            try:
                consumer.bind_producers(plugins)
            except ValueError as error:
                issues.append(ConfigIssue(f"plugins[{index}].parameters", str(error)))
    if issues:
        raise ConfigError(issues)

    def add_plugin(plugin_type: str) -> str:
        name = plugin_type
        suffix = 1
        while name in plugins:
            suffix += 1
            name = f"{plugin_type}-{suffix}"
        plugins[name] = registry.create(plugin_type, name, {}, context)
        specs.append(PluginSpec(type=plugin_type, name=name))
        return name

    # Rule 5: a picker for every profile that lacks one.
    default_picker_name = next((name for name, plugin in plugins.items() if isinstance(plugin, Picker)), None)
    if default_picker_name is None:
        default_picker_name = add_plugin(MAX_SCORE_PICKER_TYPE)

    # Rule 2: no profiles -> one profile with every filter, scorer and picker.
    profile_specs = list(config.scheduling_profiles)
    if not profile_specs:
        members = [
            PluginRef(plugin_ref=name)
            for name, plugin in plugins.items()
            if isinstance(plugin, Filter | Scorer | Picker) and not isinstance(plugin, ProfileHandler)
        ]
        profile_specs = [SchedulingProfileSpec(name=DEFAULT_PROFILE_NAME, plugins=members)]

    handler_names = [name for name, plugin in plugins.items() if isinstance(plugin, ProfileHandler)]
    if len(handler_names) > 1:
        issues.append(
            ConfigIssue("plugins", f"at most one ProfileHandler may be configured; found {handler_names}")
        )
    elif not handler_names:
        if len(profile_specs) == 1:  # Rule 3
            handler_names = [add_plugin(SINGLE_PROFILE_HANDLER_TYPE)]
        else:
            issues.append(
                ConfigIssue(
                    "schedulingProfiles", f"{len(profile_specs)} profiles need a ProfileHandler plugin"
                )
            )
    if (
        handler_names
        and plugins[handler_names[0]].plugin_type == SINGLE_PROFILE_HANDLER_TYPE
        and len(profile_specs) > 1
    ):
        issues.append(
            ConfigIssue(
                "schedulingProfiles",
                f"single-profile-handler runs exactly one profile, but {len(profile_specs)} are configured",
            )
        )

    profiles: dict[str, SchedulerProfile] = {}
    effective_profiles: list[SchedulingProfileSpec] = []
    for profile_index, profile_spec in enumerate(profile_specs):
        profile, effective = _build_profile(profile_index, profile_spec, plugins, default_picker_name, issues)
        if profile is not None:
            profiles[profile.name] = profile
            effective_profiles.append(effective)
    if issues:
        raise ConfigError(issues)

    handler = plugins[handler_names[0]]
    assert isinstance(handler, ProfileHandler)
    scheduler = Scheduler(profiles, handler, context.clock, observe)
    effective_config = config.model_copy(
        update={
            "plugins": [
                PluginSpec(type=spec.type, name=spec.effective_name, parameters=spec.parameters)
                for spec in specs
            ],
            "scheduling_profiles": effective_profiles,
        }
    )
    return SchedulingSetup(
        scheduler=scheduler,
        plugins=plugins,
        effective_config=effective_config,
        pre_request_hooks=tuple(plugin for plugin in plugins.values() if isinstance(plugin, PreRequest)),
        response_complete_hooks=tuple(
            plugin for plugin in plugins.values() if isinstance(plugin, ResponseComplete)
        ),
        pruners=tuple(plugin for plugin in plugins.values() if isinstance(plugin, EndpointPruner)),
        pool_watchers=tuple(plugin for plugin in plugins.values() if isinstance(plugin, PoolWatcher)),
        background_plugins=tuple(
            plugin for plugin in plugins.values() if isinstance(plugin, BackgroundPlugin)
        ),
        response_started_hooks=tuple(
            plugin for plugin in plugins.values() if isinstance(plugin, ResponseStarted)
        ),
        released_hooks=tuple(plugin for plugin in plugins.values() if isinstance(plugin, RequestReleased)),
    )


def _build_profile(
    profile_index: int,
    spec: SchedulingProfileSpec,
    plugins: Mapping[str, Plugin],
    default_picker_name: str,
    issues: list[ConfigIssue],
) -> tuple[SchedulerProfile | None, SchedulingProfileSpec]:
    filters: list[Filter] = []
    scorers: list[WeightedScorer] = []
    pickers: list[Picker] = []
    refs: list[PluginRef] = []
    seen: set[str] = set()
    for ref_index, ref in enumerate(spec.plugins):
        path = f"schedulingProfiles[{profile_index}].plugins[{ref_index}]"
        plugin = plugins[ref.plugin_ref]
        if ref.plugin_ref in seen:
            issues.append(
                ConfigIssue(f"{path}.pluginRef", f"{ref.plugin_ref!r} is referenced twice in this profile")
            )
            continue
        seen.add(ref.plugin_ref)
        if isinstance(plugin, ProfileHandler):
            issues.append(
                ConfigIssue(
                    f"{path}.pluginRef", f"{ref.plugin_ref!r} is a ProfileHandler; list it under plugins only"
                )
            )
            continue
        if ref.weight is not None and not isinstance(plugin, Scorer):
            issues.append(
                ConfigIssue(
                    f"{path}.weight", f"{ref.plugin_ref!r} is not a scorer; weights apply to scorers only"
                )
            )
        if isinstance(plugin, Filter):
            filters.append(plugin)
        if isinstance(plugin, Scorer):
            weight = ref.weight if ref.weight is not None else 1.0  # Rule 4
            scorers.append(WeightedScorer(plugin, weight))
            refs.append(PluginRef(plugin_ref=ref.plugin_ref, weight=weight))
        else:
            refs.append(PluginRef(plugin_ref=ref.plugin_ref))
        if isinstance(plugin, Picker):
            pickers.append(plugin)
    if len(pickers) > 1:
        issues.append(
            ConfigIssue(
                f"schedulingProfiles[{profile_index}].plugins",
                f"a profile may have at most one picker; found {[picker.name for picker in pickers]}",
            )
        )
        return None, spec
    if not pickers:
        default_picker = plugins[default_picker_name]
        assert isinstance(default_picker, Picker)
        pickers.append(default_picker)
        refs.append(PluginRef(plugin_ref=default_picker_name))
    profile = SchedulerProfile(
        name=spec.name, filters=tuple(filters), scorers=tuple(scorers), picker=pickers[0]
    )
    return profile, SchedulingProfileSpec(name=spec.name, plugins=refs)
