"""``@resource_rule`` / ``@stack_rule``: a rule declared once, on its check function.

The check's docstring is the rule's text (first paragraph: the description Pulumi shows; the rest: the
rationale in docs/policies.md), its ``config`` parameter's annotation is the rule's config model, and the
decorated name is the rule. A rule is mandatory unless it says otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies.rule import ConfigT, Finding, Resource, ResourceRule, RuleConfig, Stack, StackRule

Remediation = Callable[[dict[str, Any], Any], dict[str, Any] | None]


def resource_rule(
    name: str,
    *,
    applies_to: Callable[[str], bool],
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
    severity: Severity = Severity.MEDIUM,
    remediate: Remediation | None = None,
    remediation_steps: str | None = None,
) -> Callable[[Callable[[Resource, ConfigT], Iterable[str]]], ResourceRule[ConfigT]]:
    """The decorated ``check(resource, config)`` as a rule over resources whose type ``applies_to`` accepts."""

    def declare(check: Callable[[Resource, ConfigT], Iterable[str]]) -> ResourceRule[ConfigT]:
        metadata = _metadata(check, name, enforcement_level, severity, remediation_steps)
        return ResourceRule(**metadata, check=check, applies_to=applies_to, remediate=remediate)

    return declare


def stack_rule(
    name: str,
    *,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
    severity: Severity = Severity.MEDIUM,
    remediation_steps: str | None = None,
) -> Callable[[Callable[[Stack, ConfigT], Iterable[Finding]]], StackRule[ConfigT]]:
    """The decorated ``check(stack, config)`` as a rule over the whole stack."""

    def declare(check: Callable[[Stack, ConfigT], Iterable[Finding]]) -> StackRule[ConfigT]:
        return StackRule(**_metadata(check, name, enforcement_level, severity, remediation_steps), check=check)

    return declare


def _metadata(
    check: Callable[..., Any],
    name: str,
    enforcement_level: EnforcementLevel,
    severity: Severity,
    remediation_steps: str | None,
) -> dict[str, Any]:
    """The ``Rule`` fields every rule has, its text and config model read off ``check``."""
    description, rationale = _text(check)
    return {
        "name": name,
        "description": description,
        "rationale": rationale,
        "enforcement_level": enforcement_level,
        "severity": severity,
        "remediation_steps": remediation_steps,
        "config_model": _config_model(check),
    }


def _text(check: Callable[..., Any]) -> tuple[str, str]:
    """(description, rationale): the docstring's first paragraph and the rest, each on one line."""
    paragraphs = [" ".join(part.split()) for part in inspect.cleandoc(check.__doc__ or "").split("\n\n")]
    if len(paragraphs) < 2 or not all(paragraphs):
        raise TypeError(
            f"{check.__qualname__}: a rule's docstring is its description, a blank line, then its rationale"
        )
    return paragraphs[0], " ".join(paragraphs[1:])


def _config_model(check: Callable[..., Any]) -> type[Any]:
    """The class the ``config`` parameter is annotated with (a name in the check's module)."""
    parameter = inspect.signature(check).parameters.get("config")
    annotation = parameter.annotation if parameter is not None else None
    model = check.__globals__.get(annotation) if isinstance(annotation, str) else annotation
    if not (isinstance(model, type) and issubclass(model, RuleConfig)):
        raise TypeError(
            f"{check.__qualname__}: annotate its `config` parameter with the rule's RuleConfig model "
            "(NoConfig when it has nothing to tune)"
        )
    return model
