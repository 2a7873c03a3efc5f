"""Calls a rule's pulumi-policy validator directly with analyzer-shaped args (no PolicyPack, no CLI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import unknown_checking_proxy

from policies.offline import PlannedResource
from policies.rule import AnyRule

# The engine's sentinel for a string that is only known after the update (pulumi_policy.proxy).
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass
class Outcome:
    messages: list[str] = field(default_factory=list)
    urns: list[str | None] = field(default_factory=list)
    not_applicable: str | None = None


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def validation_args(resource_type: str, props: Mapping[str, Any], *,
                    config: Mapping[str, Any] | None = None) -> ResourceValidationArgs:
    """Plain (unproxied) args, as the analyzer passes them to a remediation."""
    return ResourceValidationArgs(resource_type, props, f"urn:test::{resource_type}", "subject", _options(), None,
                                  config, None)


def run_resource_rule(rule: AnyRule, resource_type: str, props: Mapping[str, Any], *,
                      config: Mapping[str, Any] | None = None, stack_tags: Mapping[str, str] | None = None,
                      provider_urn: str | None = None) -> Outcome:
    outcome = Outcome()
    provider = PolicyProviderResource("pulumi:providers:kubernetes", {}, provider_urn, "k8s") if provider_urn else None
    args = ResourceValidationArgs(resource_type, unknown_checking_proxy(dict(props)), f"urn:test::{resource_type}",
                                  "subject", _options(), provider, config, stack_tags)

    def report(message: str, urn: str | None = None) -> None:
        outcome.messages.append(message)
        outcome.urns.append(urn)

    try:
        rule.to_policy().validate(args, report)
    except _NotApplicableError as err:
        outcome.not_applicable = err.reason or ""
    return outcome


def run_stack_rule(rule: AnyRule, resources: Sequence[PlannedResource], *,
                   config: Mapping[str, Any] | None = None) -> Outcome:
    outcome = Outcome()
    policy_resources = []
    for resource in resources:
        provider = (PolicyProviderResource("pulumi:providers:kubernetes", {}, resource.provider_urn, "k8s")
                    if resource.provider_urn else None)
        policy_resources.append(PolicyResource(
            resource.resource_type, unknown_checking_proxy(dict(resource.inputs)),
            resource.urn or f"urn:test::{resource.resource_type}::{resource.name}", resource.name,
            _options(), provider, None, [], {}))

    by_urn = {resource.urn: resource for resource in policy_resources}
    for policy_resource, resource in zip(policy_resources, resources, strict=True):
        policy_resource.dependencies = [by_urn[urn] for urn in resource.dependencies if urn in by_urn]

    def report(message: str, urn: str | None = None) -> None:
        outcome.messages.append(message)
        outcome.urns.append(urn)

    try:
        rule.to_policy().validate(StackValidationArgs(policy_resources, config), report)
    except _NotApplicableError as err:
        outcome.not_applicable = err.reason or ""
    return outcome
