"""Rules for IAM the gateway depends on: GPU node service accounts must write Autoscaling API metrics.

GKE's metrics agent on the nodes that run model servers publishes the exported custom metrics with the
node's service account, which therefore needs ``autoscaling.sites.writeMetrics``.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import EnforcementLevel, Severity
from pydantic import Field

from policies import resource_types as types
from policies.rule import Finding, RuleConfig, Stack, StackRule, known

METRICS_WRITER_ROLES = ("roles/autoscaling.metricsWriter", "roles/container.defaultNodeServiceAccount")


class MetricsWriterConfig(RuleConfig):
    roles: list[str] = Field(
        default_factory=lambda: list(METRICS_WRITER_ROLES),
        description="Project roles that grant autoscaling.sites.writeMetrics (add custom roles here).",
    )


def _granted_members(stack: Stack, roles: set[str]) -> tuple[set[str], bool]:
    """Members holding one of ``roles``, and whether some grant's member is not known yet."""
    members: set[str] = set()
    undecided = False
    for grant in stack.of(types.PROJECT_IAM_MEMBER):
        facts = known(lambda g=grant: (g.props.text("role"), g.props.text("member")))
        if facts is None:
            undecided = True
            continue
        role, member = facts
        if role in roles and member:
            members.add(member)
    for binding in stack.of(types.PROJECT_IAM_BINDING):
        facts = known(lambda b=binding: (b.props.text("role"), b.props.strings("members")))
        if facts is None:
            undecided = True
            continue
        role, bound = facts
        if role in roles:
            members.update(bound)
    return members, undecided


def _check_metrics_writer(stack: Stack, config: MetricsWriterConfig) -> Iterator[Finding]:
    members, undecided = _granted_members(stack, set(config.roles))
    for pool in stack.of(types.NODE_POOL):
        facts = known(lambda p=pool: (bool(p.props.items("nodeConfig", "guestAccelerators")),
                                      p.props.text("nodeConfig", "serviceAccount")))
        if facts is None:
            continue
        has_gpus, service_account = facts
        if not has_gpus:
            continue
        if service_account is None:
            yield Finding("the GPU node pool runs as the Compute Engine default service account; set "
                          "nodeConfig.serviceAccount to a dedicated account granted "
                          f"{config.roles[0] if config.roles else 'roles/autoscaling.metricsWriter'}.", pool.urn)
            continue
        if undecided or f"serviceAccount:{service_account}" in members:
            continue
        yield Finding(f"node service account {service_account} holds none of {', '.join(config.roles)}, so "
                      f"exported vLLM metrics never reach the load balancer; grant "
                      f"roles/autoscaling.metricsWriter to serviceAccount:{service_account}.", pool.urn)


node_sa_writes_metrics = StackRule(
    name="node-sa-writes-autoscaling-metrics",
    description="Requires GPU node service accounts to be allowed to write Autoscaling API metrics.",
    rationale="The doc requires node service accounts to write metrics to the Autoscaling API; without "
    "it the KV-cache metric never reaches the load balancer and CUSTOM_METRICS balancing has no signal.",
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    config_model=MetricsWriterConfig,
    check=_check_metrics_writer,
)


RULES = (node_sa_writes_metrics,)
