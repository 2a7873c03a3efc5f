"""Runs the guardrail pack over planned resources without the Pulumi CLI, as the analyzer would: each rule
through its pulumi-policy object with analyzer-shaped args (inputs in the SDK's unknown-checking proxy)
and ``--policy-pack-config`` JSON; bad config fails before any rule runs.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError  # raised by args.not_applicable(); no public name
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.pack import RULES
from policies.rule import AnyRule, PolicyConfigError, ResourceRule, raw_properties

ALL_POLICIES_KEY = "all"
_LEVELS: Mapping[str, EnforcementLevel] = MappingProxyType({level.value: level for level in EnforcementLevel})


@dataclass(frozen=True, slots=True)
class PlannedResource:
    """One resource the program would register: engine type token, name and camelCase inputs."""

    resource_type: str
    name: str
    inputs: Mapping[str, Any]
    urn: str | None = None
    parent_urn: str | None = None
    provider_urn: str | None = None
    dependencies: tuple[str, ...] = ()

    def resolved_urn(self, project: str, stack: str) -> str:
        return self.urn or f"urn:pulumi:{stack}::{project}::{self.resource_type}::{self.name}"


class RecordedResource(Protocol):
    """What a recorded plan (``infgw plan``) holds per registration; duck-typed to keep the pack standalone."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urn(self) -> str: ...
    @property
    def inputs(self) -> Mapping[str, Any]: ...
    @property
    def parent_urn(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def dependencies(self) -> tuple[str, ...]: ...


def _provider_urn(reference: str) -> str | None:
    """Provider references are ``<urn>::<id>``; the id is unknown in preview, the URN is what identifies it."""
    if not reference:
        return None
    return reference.rsplit("::", 1)[0] if reference.count("::") > 3 else reference


def _mark_unknowns(value: Any, marker: str | None) -> Any:
    if marker is not None and isinstance(value, str) and value == marker:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {key: _mark_unknowns(item, marker) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_unknowns(item, marker) for item in value]
    return value


def planned_from_records(records: Iterable[RecordedResource], *, unknown_marker: str | None = None) -> list[PlannedResource]:
    """Planned resources from a recorded plan; values equal to ``unknown_marker`` become engine unknowns."""
    return [
        PlannedResource(
            resource_type=record.type,
            name=record.name,
            inputs=_mark_unknowns(dict(record.inputs), unknown_marker),
            urn=record.urn,
            parent_urn=record.parent_urn or None,
            provider_urn=_provider_urn(record.provider),
            dependencies=tuple(record.dependencies),
        )
        for record in records
    ]


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    level: EnforcementLevel
    message: str
    resource_urn: str | None = None
    resource_name: str | None = None
    resource_type: str | None = None

    @property
    def resource_label(self) -> str:
        if self.resource_name is None:
            return "(stack)"
        return f"{self.resource_type}::{self.resource_name}"


@dataclass(frozen=True, slots=True)
class Remediation:
    rule: str
    resource_urn: str
    resource_name: str


@dataclass(frozen=True, slots=True)
class NotApplicable:
    rule: str
    reason: str
    resource_urn: str | None = None


@dataclass(frozen=True, slots=True)
class PackReport:
    """What one run of the pack found; ``passed`` is False when any mandatory rule is violated."""

    violations: list[Violation]
    remediations: list[Remediation] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level is EnforcementLevel.MANDATORY]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def by_rule(self, rule: str) -> list[Violation]:
        return [v for v in self.violations if v.rule == rule]


@dataclass(frozen=True, slots=True)
class PackConfig:
    """Parsed policy-pack config: enforcement-level overrides and each rule's validated properties."""

    levels: Mapping[str, EnforcementLevel] = field(default_factory=dict)
    all_level: EnforcementLevel | None = None
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def level_for(self, rule: AnyRule) -> EnforcementLevel:
        return self.levels.get(rule.name) or self.all_level or rule.enforcement_level


def _level(value: Any, where: str) -> EnforcementLevel:
    if isinstance(value, str) and value in _LEVELS:
        return _LEVELS[value]
    raise PolicyConfigError(f"{where}: enforcement level must be one of {sorted(_LEVELS)}, got {value!r}")


def with_defaults(raw: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``raw`` policy config with per-rule property ``defaults`` filled in where ``raw`` sets none."""
    merged: dict[str, Any] = dict(raw)
    for name, properties in defaults.items():
        current = merged.get(name)
        if current is None:
            merged[name] = dict(properties)
        elif isinstance(current, str):
            merged[name] = {"enforcementLevel": current, **properties}
        elif isinstance(current, Mapping):
            merged[name] = {**properties, **current}
    return merged


def parse_pack_config(raw: Mapping[str, Any], rules: Sequence[AnyRule] = RULES) -> PackConfig:
    """Validates ``--policy-pack-config`` JSON: known rule names, valid levels, properties per schema."""
    if not isinstance(raw, Mapping):
        raise PolicyConfigError("policy config must be a JSON object keyed by policy name (or \"all\")")
    by_name = {rule.name: rule for rule in rules}
    levels: dict[str, EnforcementLevel] = {}
    properties: dict[str, Mapping[str, Any]] = {}
    all_level = None
    for key, value in raw.items():
        if key == ALL_POLICIES_KEY:
            level_value = value.get("enforcementLevel") if isinstance(value, Mapping) else value
            all_level = _level(level_value, "all")
            continue
        rule = by_name.get(key)
        if rule is None:
            close = difflib.get_close_matches(key, by_name, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise PolicyConfigError(f"unknown policy '{key}' in policy config; {hint}known: {', '.join(sorted(by_name))}")
        if isinstance(value, str):
            levels[key] = _level(value, key)
            continue
        if not isinstance(value, Mapping):
            raise PolicyConfigError(f"{key}: expected an enforcement level or an object, got {value!r}")
        rule_properties = {k: v for k, v in value.items() if k != "enforcementLevel"}
        if "enforcementLevel" in value:
            levels[key] = _level(value["enforcementLevel"], f"{key}.enforcementLevel")
        rule.parse_config(rule_properties)  # fail now, naming the key, rather than mid-run
        properties[key] = rule_properties
    return PackConfig(levels=levels, all_level=all_level, properties=properties)


def load_pack_config(
    path: Path | None,
    rules: Sequence[AnyRule] = RULES,
    *,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> PackConfig:
    """Reads a ``--policy-pack-config`` JSON file (None: no file) and validates it with ``defaults`` filled in."""
    raw: Any = {}
    if path is not None:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as err:
            raise PolicyConfigError(f"policy config file {path} does not exist") from err
        except json.JSONDecodeError as err:
            raise PolicyConfigError(f"policy config file {path} is not JSON: {err}") from err
        if not isinstance(raw, Mapping):
            raise PolicyConfigError(f"policy config file {path} must hold a JSON object keyed by policy name")
    return parse_pack_config(with_defaults(raw, defaults or {}), rules)


def _options(resource: PlannedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent_urn,
    )


def _provider(resource: PlannedResource, by_urn: Mapping[str, PlannedResource]) -> PolicyProviderResource | None:
    if resource.provider_urn is None:
        return None
    provider = by_urn.get(resource.provider_urn)
    provider_type = provider.resource_type if provider else resource.provider_urn.split("::")[-2]
    provider_name = provider.name if provider else resource.provider_urn.rsplit("::", 1)[-1]
    return PolicyProviderResource(provider_type, {}, resource.provider_urn, provider_name)


def _collector(
    violations: list[Violation],
    rule_name: str,
    level: EnforcementLevel,
    by_urn: Mapping[str, PlannedResource],
    *,
    default_urn: str | None,
) -> Callable[..., None]:
    """A ``report_violation`` callback that records violations against the reported (or default) URN."""

    def report_violation(message: str, urn: str | None = None) -> None:
        target_urn = urn or default_urn
        target = by_urn.get(target_urn) if target_urn else None
        violations.append(Violation(rule_name, level, message, target_urn,
                                    target.name if target else None, target.resource_type if target else None))

    return report_violation


def _policy_resources(planned: Sequence[PlannedResource], props: Sequence[Mapping[str, Any]],
                      urns: Sequence[str], by_urn: Mapping[str, PlannedResource]) -> list[PolicyResource]:
    resources = [
        PolicyResource(r.resource_type, unknown_checking_proxy(copy.deepcopy(dict(props[i]))), urns[i], r.name,
                       _options(r), _provider(r, by_urn), None, [], {})
        for i, r in enumerate(planned)
    ]
    by_policy_urn = {resource.urn: resource for resource in resources}
    for resource, plan in zip(resources, planned, strict=True):
        if plan.parent_urn is not None:
            resource.parent = by_policy_urn.get(plan.parent_urn)
        # As the analyzer does: dependencies outside the stack's resource list are dropped.
        resource.dependencies = [by_policy_urn[urn] for urn in plan.dependencies if urn in by_policy_urn]
    return resources


def _settle(result: Any) -> Any:
    return asyncio.run(_awaited(result)) if isawaitable(result) else result


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result


def run_pack(
    resources: Iterable[PlannedResource],
    config: PackConfig | None = None,
    *,
    rules: Sequence[AnyRule] = RULES,
    stack_tags: Mapping[str, str] | None = None,
    project: str = "infgw",
    stack: str = "dev",
) -> PackReport:
    """Remediates (rules at level remediate), then validates every resource, then the stack."""
    config = config or PackConfig()
    tags = dict(stack_tags or {})
    planned = list(resources)
    urns = [r.resolved_urn(project, stack) for r in planned]
    by_urn = dict(zip(urns, planned, strict=True))
    props: list[dict[str, Any]] = [copy.deepcopy(dict(r.inputs)) for r in planned]
    violations: list[Violation] = []
    remediations: list[Remediation] = []
    not_applicable: list[NotApplicable] = []

    active = [(rule, config.level_for(rule)) for rule in rules]
    active = [(rule, level) for rule, level in active if level is not EnforcementLevel.DISABLED]

    def resource_args(index: int, rule: AnyRule) -> ResourceValidationArgs:
        resource = planned[index]
        return ResourceValidationArgs(
            resource.resource_type, unknown_checking_proxy(copy.deepcopy(props[index])), urns[index],
            resource.name, _options(resource), _provider(resource, by_urn),
            config.properties.get(rule.name), tags,
        )

    for rule, level in active:
        if level is not EnforcementLevel.REMEDIATE or not isinstance(rule, ResourceRule) or rule.remediate is None:
            continue
        policy = rule.to_policy()
        for index, resource in enumerate(planned):
            try:
                fixed = _settle(policy.remediate(resource_args(index, rule)))
            except _NotApplicableError as err:
                not_applicable.append(NotApplicable(rule.name, err.reason or "", urns[index]))
                continue
            if fixed:
                props[index] = raw_properties(fixed)
                remediations.append(Remediation(rule.name, urns[index], resource.name))

    # Stack rules only read; after remediation the resource list is built once and shared between them.
    policy_resources: list[PolicyResource] | None = None
    for rule, level in active:
        reported = EnforcementLevel.MANDATORY if level is EnforcementLevel.REMEDIATE else level
        validation = rule.to_policy()
        if isinstance(rule, ResourceRule):
            assert isinstance(validation, ResourceValidationPolicy)
            for index in range(len(planned)):
                if not rule.applies_to(planned[index].resource_type):
                    continue  # the validator would return at once; skip building its arguments
                collect = _collector(violations, rule.name, reported, by_urn, default_urn=urns[index])
                try:
                    _settle(validation.validate(resource_args(index, rule), collect))
                except _NotApplicableError as err:
                    not_applicable.append(NotApplicable(rule.name, err.reason or "", urns[index]))
            continue
        if policy_resources is None:
            policy_resources = _policy_resources(planned, props, urns, by_urn)
        collect = _collector(violations, rule.name, reported, by_urn, default_urn=None)
        assert isinstance(validation, StackValidationPolicy)
        try:
            _settle(validation.validate(StackValidationArgs(policy_resources, config.properties.get(rule.name), tags),
                                    collect))
        except _NotApplicableError as err:
            not_applicable.append(NotApplicable(rule.name, err.reason or ""))
    return PackReport(violations=violations, remediations=remediations, not_applicable=not_applicable)
