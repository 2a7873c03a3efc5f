"""Stack-wide rule: production stacks keep deletion protection on their clusters. "Production" comes from a
stack tag (``environment`` by default) or ``production: true`` in policy config (the offline plan has no tags).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity
from pydantic import Field

from policies import resource_types as types
from policies.rule import Resource, RuleConfig
from policies.rule_declaration import resource_rule


class ProductionConfig(RuleConfig):
    production: bool = Field(False, description="Treat this stack as production regardless of tags.")
    tag_key: str = Field("environment", description="Stack tag that names the environment.")
    production_values: list[str] = Field(
        default_factory=lambda: ["production", "prod"], description="Tag values that mark a production stack."
    )


def is_production(resource: Resource, config: ProductionConfig) -> bool:
    tag = resource.stack_tags.get(config.tag_key, "")
    return config.production or tag.lower() in {value.lower() for value in config.production_values}


def _remediate_deletion_protection(props: dict[str, Any], config: ProductionConfig) -> dict[str, Any] | None:
    # Remediations cannot see stack tags, so this only acts when config marks the stack as production.
    if not config.production or props.get("deletionProtection") is not False:
        return None
    fixed = copy.deepcopy(props)
    fixed["deletionProtection"] = True
    return fixed


@resource_rule(
    "deletion-protection-in-production",
    applies_to=lambda resource_type: resource_type == types.CLUSTER,
    severity=Severity.CRITICAL,
    remediate=_remediate_deletion_protection,
    remediation_steps="Set deletionProtection: true on the cluster (automatic only when config "
    "marks the stack as production).",
)
def deletion_protection_in_production(resource: Resource, config: ProductionConfig) -> Iterator[str]:
    """Requires deletion protection on GKE clusters of production stacks.

    Disposable stacks turn deletionProtection off so `pulumi destroy` works; on a production stack the same
    setting lets one mistaken replace delete a cluster and its scarce GPU capacity.
    """
    if not is_production(resource, config):
        return
    if resource.props.flag("deletionProtection") is False:
        yield ("deletionProtection is false on a production stack, so `pulumi destroy` or a replacing "
               "change deletes the cluster and its GPU capacity; set deletionProtection: true.")


RULES = (deletion_protection_in_production,)
