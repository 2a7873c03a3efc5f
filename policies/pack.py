"""The guardrail pack's contents: every rule, in documentation order, and the pack's identity.

``policies/__main__.py`` turns these into a ``PolicyPack``; ``offline`` and ``docs`` read them directly.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from policies import fleet, gke, iam, inference, networking, stack, workloads
from policies.rule import AnyRule

PACK_NAME = "infgw-guardrails"
PACK_DESCRIPTION = "Guardrails for the GKE (multi-cluster) Inference Gateway: cluster prerequisites, " \
    "proxy-only subnets, fleet, inference objects and workloads."
# Every rule sets its own level; this only applies to rules added without one.
PACK_ENFORCEMENT_LEVEL = EnforcementLevel.ADVISORY

RULES: tuple[AnyRule, ...] = (
    *gke.RULES,
    *networking.RULES,
    *fleet.RULES,
    *iam.RULES,
    *inference.RULES,
    *workloads.RULES,
    *stack.RULES,
)


def rules_by_name() -> dict[str, AnyRule]:
    return {rule.name: rule for rule in RULES}


def build_policies() -> list[Policy]:
    """pulumi-policy objects for every rule (constructing them is cheap; the PolicyPack is not)."""
    return [rule.to_policy() for rule in RULES]
