"""IAM the gateway depends on: GPU node service accounts must write Autoscaling API metrics (GKE exports
the model servers' custom metrics with the node's account). In preview the account's email is unknown,
so pools and grants are then related through the Account they both depend on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy import Severity
from pydantic import Field

from policies import resource_types as types
from policies.rule import Finding, Resource, RuleConfig, Stack, known
from policies.rule_declaration import stack_rule

METRICS_WRITER_ROLES = ("roles/autoscaling.metricsWriter", "roles/container.defaultNodeServiceAccount")


class MetricsWriterConfig(RuleConfig):
    roles: list[str] = Field(
        default_factory=lambda: list(METRICS_WRITER_ROLES),
        description="Project roles that grant autoscaling.sites.writeMetrics (add custom roles here).",
    )


@dataclass(frozen=True, slots=True)
class Grant:
    """A project-level grant of a metrics-writing role; ``members`` is None when not known yet."""

    members: tuple[str, ...] | None
    dependencies: tuple[str, ...]


def _grants(stack: Stack, roles: set[str]) -> list[Grant]:
    grants: list[Grant] = []
    for grant in stack.of(types.PROJECT_IAM_MEMBER):
        role = known(lambda: grant.props.text("role"))
        if role is not None and role not in roles:
            continue
        member = known(lambda: (grant.props.text("member"),))
        members = None if member is None or role is None else tuple(m for m in member if m)
        grants.append(Grant(members, grant.dependencies))
    for binding in stack.of(types.PROJECT_IAM_BINDING):
        role = known(lambda: binding.props.text("role"))
        if role is not None and role not in roles:
            continue
        bound = known(lambda: tuple(binding.props.strings("members")))
        grants.append(Grant(None if role is None else bound, binding.dependencies))
    return grants


def _account_dependencies(stack: Stack, pool: Resource) -> list[Resource]:
    accounts = {account.urn: account for account in stack.of(types.SERVICE_ACCOUNT)}
    return [accounts[urn] for urn in pool.dependencies if urn in accounts]


@stack_rule("node-sa-writes-autoscaling-metrics", severity=Severity.HIGH)
def node_sa_writes_metrics(stack: Stack, config: MetricsWriterConfig) -> Iterator[Finding]:
    """Requires GPU node service accounts to be allowed to write Autoscaling API metrics.

    The doc requires node service accounts to write metrics to the Autoscaling API; without it the KV-cache
    metric never reaches the load balancer and CUSTOM_METRICS balancing has no signal.
    """
    grants = _grants(stack, set(config.roles))
    roles = ", ".join(config.roles)
    for pool in stack.of(types.NODE_POOL):
        if not known(lambda: bool(pool.props.items("nodeConfig", "guestAccelerators"))):
            continue
        account = known(lambda: (pool.props.text("nodeConfig", "serviceAccount"),))
        if account is not None:
            email = account[0]
            if email is None:
                yield Finding("the GPU node pool runs as the Compute Engine default service account; set "
                              "nodeConfig.serviceAccount to a dedicated account granted "
                              "roles/autoscaling.metricsWriter.", pool.urn)
                continue
            member = f"serviceAccount:{email}"
            if any(g.members is None for g in grants) or any(member in (g.members or ()) for g in grants):
                continue
            yield Finding(f"node service account {email} holds none of {roles}, so exported vLLM metrics never "
                          f"reach the load balancer; grant roles/autoscaling.metricsWriter to {member}.", pool.urn)
            continue
        # The email is computed: follow the Account both the pool and the grants depend on.
        for service_account in _account_dependencies(stack, pool):
            if any(service_account.urn in g.dependencies for g in grants):
                continue
            yield Finding(f"node service account {service_account.name} (email known after apply) holds none of "
                          f"{roles}, so exported vLLM metrics never reach the load balancer; grant it "
                          f"roles/autoscaling.metricsWriter.", pool.urn)


RULES = (node_sa_writes_metrics,)
