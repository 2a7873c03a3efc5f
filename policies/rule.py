"""The rule model: pure checks plus metadata, and ``to_policy`` adapters that wrap them as pulumi-policy
``ResourceValidationPolicy``/``StackValidationPolicy``, so the same functions run under
``pulumi preview --policy-pack`` and in :mod:`policies.offline`; checks never touch the SDK.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, _DictProxy, _ListProxy
from pulumi_policy.secret import Secret, _DictSecretsProxy, _ListSecretsProxy
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from policies.props import Props, UnknownValue

# The SDK's property proxies (unknown-checking, secret-preserving); their raw content is under "__target".
_SDK_PROXIES = (_DictProxy, _ListProxy, _DictSecretsProxy, _ListSecretsProxy)


class PolicyConfigError(ValueError):
    """Policy configuration that does not fit a rule's schema; the message names the key and the fix."""


class RuleConfig(BaseModel):
    """Base for a rule's tunables. Keys are camelCase in policy config JSON, as Pulumi's schemas are."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel)


class NoConfig(RuleConfig):
    """For rules with nothing to tune."""


ConfigT = TypeVar("ConfigT", bound=RuleConfig)


@dataclass(frozen=True, slots=True)
class Resource:
    """One planned resource as a rule sees it: engine type token, name, URN and input properties."""

    resource_type: str
    name: str
    urn: str
    props: Props
    provider_urn: str | None = None
    parent_urn: str | None = None
    stack_tags: Mapping[str, str] = field(default_factory=dict)
    # URNs this resource's inputs depend on: relates resources whose linking values are unknown in preview.
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """A stack-rule violation, attached to a resource when ``urn`` is set."""

    message: str
    urn: str | None = None


@dataclass(frozen=True, slots=True)
class Stack:
    """Every resource in the stack, for rules that relate resources to each other."""

    resources: tuple[Resource, ...]
    tags: Mapping[str, str] = field(default_factory=dict)

    def of(self, matches: str | Callable[[str], bool]) -> list[Resource]:
        """Resources whose type token equals ``matches`` (or satisfies it, when callable)."""
        if isinstance(matches, str):
            return [r for r in self.resources if r.resource_type == matches]
        return [r for r in self.resources if matches(r.resource_type)]


def known(extract: Callable[[], Any]) -> Any:
    """Runs ``extract`` and returns None if it needs an unknown value: stack rules skip that resource only."""
    try:
        return extract()
    except (UnknownValue, UnknownValueError):
        return None


@dataclass(frozen=True, kw_only=True)
class Rule(Generic[ConfigT]):
    """Metadata shared by resource and stack rules; ``rationale`` is the "why" in docs/policies.md."""

    name: str
    description: str
    rationale: str
    enforcement_level: EnforcementLevel
    config_model: type[ConfigT]
    severity: Severity = Severity.MEDIUM
    remediation_steps: str | None = None

    scope: Literal["resource", "stack"] = field(init=False, default="resource")

    def config_schema(self) -> PolicyConfigSchema | None:
        """The rule's tunables as the JSON schema Pulumi shows and validates (None when there are none)."""
        schema = self.config_model.model_json_schema(by_alias=True)
        properties = schema.get("properties", {})
        if not properties:
            return None
        # default_factory fields carry no "default" in pydantic's schema; Pulumi shows and applies it.
        defaults = self.config_model().model_dump(by_alias=True, mode="json")
        definitions = schema.get("$defs", {})
        cleaned = {
            key: {"default": defaults[key], **_inline_schema(spec, definitions)} for key, spec in properties.items()
        }
        return PolicyConfigSchema(properties=cleaned)

    def parse_config(self, raw: Mapping[str, Any] | None) -> ConfigT:
        """Validates ``raw`` (a policy's properties from policy config) into the rule's config model."""
        try:
            return self.config_model.model_validate(dict(raw or {}))
        except ValidationError as err:
            problems = "; ".join(
                f"{self.name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
            )
            known_keys = ", ".join(f.alias or n for n, f in self.config_model.model_fields.items()) or "none"
            raise PolicyConfigError(
                f"invalid policy config for '{self.name}': {problems} (known keys: {known_keys})"
            ) from err

    def to_policy(self) -> Policy:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class ResourceRule(Rule[ConfigT]):
    """Checks one resource at a time; ``remediate`` (optional) returns corrected input properties."""

    applies_to: Callable[[str], bool]
    check: Callable[[Resource, ConfigT], Iterable[str]]
    remediate: Callable[[dict[str, Any], ConfigT], dict[str, Any] | None] | None = None

    scope: Literal["resource", "stack"] = field(init=False, default="resource")

    def evaluate(self, resource: Resource, config: ConfigT) -> list[str]:
        """Violation messages for ``resource``; raises UnknownValue when a needed input is unknown."""
        if not self.applies_to(resource.resource_type):
            return []
        return list(self.check(resource, config))

    def to_policy(self) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if not self.applies_to(args.resource_type):
                return
            config = self.parse_config(args.get_config())
            resource = _resource_from(args, Props(args.props))
            try:
                messages = self.evaluate(resource, config)
            except (UnknownValue, UnknownValueError) as unknown:
                args.not_applicable(_not_applicable_reason(unknown))
                return
            for message in messages:
                report_violation(message, None)

        remediate = None
        if self.remediate is not None:
            rule_remediate = self.remediate

            def remediate(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
                if not self.applies_to(args.resource_type):
                    return None
                config = self.parse_config(args.get_config())
                original = raw_properties(args.props)
                # Remediate only what validation proves wrong: never on unknowns, never on compliant inputs.
                try:
                    if not self.evaluate(_resource_from(args, Props(original)), config):
                        return None
                except (UnknownValue, UnknownValueError):
                    return None
                fixed = rule_remediate(copy.deepcopy(original), config)
                if fixed is None:
                    return None
                _write_back(args.props, original, fixed)
                return args.props

        return ResourceValidationPolicy(
            name=self.name,
            description=self.description,
            validate=validate,
            # pulumi-policy's annotation wants an awaitable; its runtime takes a plain mapping as well.
            remediate=remediate,  # type: ignore[arg-type]
            enforcement_level=self.enforcement_level,
            config_schema=self.config_schema(),
            severity=self.severity,
            remediation_steps=self.remediation_steps,
        )


def _not_applicable_reason(unknown: Exception) -> str:
    """Why a rule skips a resource or stack at preview: an input known only after apply (checked on update)."""
    return f"{getattr(unknown, 'message', unknown)}; re-checked on update"


@dataclass(frozen=True, kw_only=True)
class StackRule(Rule[ConfigT]):
    """Checks relations between resources (subnets per region, pools per objective, ...)."""

    check: Callable[[Stack, ConfigT], Iterable[Finding]]

    scope: Literal["resource", "stack"] = field(init=False, default="stack")

    def evaluate(self, stack: Stack, config: ConfigT) -> list[Finding]:
        return list(self.check(stack, config))

    def to_policy(self) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            config = self.parse_config(args.get_config())
            stack = Stack(
                resources=tuple(
                    Resource(
                        resource_type=r.resource_type,
                        name=r.name,
                        urn=r.urn,
                        props=Props(r.props),
                        provider_urn=r.provider.urn if r.provider is not None else None,
                        parent_urn=r.parent.urn if r.parent is not None else r.opts.parent,
                        stack_tags=dict(args.stack_tags),
                        dependencies=tuple(d.urn for d in r.dependencies),
                    )
                    for r in args.resources
                ),
                tags=dict(args.stack_tags),
            )
            try:
                findings = self.evaluate(stack, config)
            except (UnknownValue, UnknownValueError) as unknown:
                args.not_applicable(_not_applicable_reason(unknown))
                return
            for finding in findings:
                report_violation(finding.message, finding.urn)

        return StackValidationPolicy(
            name=self.name,
            description=self.description,
            validate=validate,
            enforcement_level=self.enforcement_level,
            config_schema=self.config_schema(),
            severity=self.severity,
            remediation_steps=self.remediation_steps,
        )


def _resource_from(args: ResourceValidationArgs, props: Props) -> Resource:
    return Resource(
        resource_type=args.resource_type,
        name=args.name,
        urn=args.urn,
        props=props,
        provider_urn=args.provider.urn if args.provider is not None else None,
        parent_urn=args.opts.parent if args.opts is not None else None,
        stack_tags=dict(args.stack_tags),
    )


def _inline_schema(node: Any, definitions: Mapping[str, Any]) -> Any:
    """Resolves pydantic's ``$ref``s (Pulumi receives each property's schema on its own) and drops titles."""
    if isinstance(node, Mapping):
        if "$ref" in node:
            return _inline_schema(definitions[str(node["$ref"]).rsplit("/", 1)[-1]], definitions)
        return {key: _inline_schema(value, definitions) for key, value in node.items() if key != "title"}
    if isinstance(node, list):
        return [_inline_schema(item, definitions) for item in node]
    return node


def _write_back(target: Any, original: Mapping[str, Any], fixed: Mapping[str, Any]) -> None:
    """Writes only what changed, as deep as it changed, through the SDK's mappings: they keep the secretness
    of values they replace, and everything untouched stays exactly as the engine sent it."""
    for key, value in fixed.items():
        before = original.get(key)
        if key in original and before == value:
            continue
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            _write_back(target[key], before, value)
        else:
            target[key] = value


def raw_properties(value: Any) -> Any:
    """Plain dicts and lists of analyzer properties: SDK proxies unwrapped (as the SDK's own serializer does),
    secrets unwrapped to their values, unknown sentinels kept as the engine sent them."""
    if isinstance(value, _SDK_PROXIES):
        return raw_properties(value["__target"])
    if isinstance(value, Secret):
        return raw_properties(value.value)
    if isinstance(value, Mapping):
        return {key: raw_properties(value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [raw_properties(item) for item in value]
    return value


AnyRule = ResourceRule[Any] | StackRule[Any]
