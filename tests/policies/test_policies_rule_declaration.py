"""@resource_rule / @stack_rule: the check's docstring, config annotation and name make the rule."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulumi_policy import EnforcementLevel, Severity

from policies.rule import Finding, NoConfig, Resource, ResourceRule, RuleConfig, Stack, StackRule
from policies.rule_declaration import resource_rule, stack_rule


class LimitConfig(RuleConfig):
    limit: int = 3


def test_a_resource_rule_takes_its_text_and_config_model_from_the_check() -> None:
    @resource_rule("small-things", applies_to=lambda token: token == "t:index:T", severity=Severity.HIGH)
    def small_things(resource: Resource, config: LimitConfig) -> Iterator[str]:
        """Requires things to be
        small.

        Big things break.

        Twice.
        """
        yield f"{resource.name} is over {config.limit}"

    assert isinstance(small_things, ResourceRule)
    assert (small_things.name, small_things.description, small_things.rationale) == (
        "small-things",
        "Requires things to be small.",
        "Big things break. Twice.",
    )
    assert small_things.config_model is LimitConfig
    assert small_things.enforcement_level == EnforcementLevel.MANDATORY
    assert small_things.severity == Severity.HIGH
    assert small_things.config_schema() is not None


def test_a_stack_rule_may_be_advisory() -> None:
    @stack_rule("quiet", enforcement_level=EnforcementLevel.ADVISORY)
    def quiet(stack: Stack, config: NoConfig) -> Iterator[Finding]:
        """Says nothing.

        It is an example.
        """
        yield from ()

    assert isinstance(quiet, StackRule)
    assert quiet.enforcement_level == EnforcementLevel.ADVISORY
    assert quiet.config_model is NoConfig
    assert quiet.evaluate(Stack(resources=()), NoConfig()) == []


def test_a_check_without_a_rationale_paragraph_is_refused() -> None:
    with pytest.raises(TypeError, match="description, a blank line, then its rationale"):

        @stack_rule("terse")
        def terse(stack: Stack, config: NoConfig) -> Iterator[Finding]:
            """Only a description."""
            yield from ()


def test_a_check_without_a_config_model_annotation_is_refused() -> None:
    with pytest.raises(TypeError, match="annotate its `config` parameter"):

        @stack_rule("untyped")
        def untyped(stack: Stack, config: dict) -> Iterator[Finding]:
            """Untyped.

            Its config is a plain dict.
            """
            yield from ()
