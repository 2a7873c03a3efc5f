"""Fleet rule: the multi-cluster ingress feature must name a config membership the stack registers; a
dangling ``configMembership`` leaves the multi-cluster gateway unprogrammed without an apply error.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from policies import resource_types as types
from policies.rule import Finding, NoConfig, Stack, known
from policies.rule_declaration import stack_rule
from policies.topology import is_multi_cluster

MULTI_CLUSTER_INGRESS_FEATURE = "multiclusteringress"
_MEMBERSHIP_SEGMENT = "/memberships/"


def membership_ids(stack: Stack) -> set[str]:
    """Membership ids the stack registers: explicit Memberships and clusters registered via ``fleet``."""
    ids: set[str] = set()
    for membership in stack.of(types.FLEET_MEMBERSHIP):
        membership_id = known(lambda: membership.props.text("membershipId"))
        if membership_id:
            ids.add(membership_id)
        full_name = known(lambda: membership.props.text("name"))
        if full_name and _MEMBERSHIP_SEGMENT in full_name:
            ids.add(full_name.rsplit("/", 1)[-1])
    for cluster in stack.of(types.CLUSTER):
        registered = known(lambda: cluster.props.text("fleet", "project"))
        name = known(lambda: cluster.props.text("name"))
        if registered and name:
            ids.add(name)
    return ids


@stack_rule("fleet-config-membership-exists", severity=Severity.HIGH)
def config_membership_exists(stack: Stack, config: NoConfig) -> Iterator[Finding]:
    """Requires the multi-cluster ingress feature to name a config membership the stack registers.

    The config membership selects the config cluster that hosts the Gateway, HTTPRoute and
    GCPInferencePoolImports; a dangling reference leaves the multi-cluster gateway unprogrammed.
    """
    features = [f for f in stack.of(types.FLEET_FEATURE)
                if known(lambda: f.props.text("name")) == MULTI_CLUSTER_INGRESS_FEATURE]
    registered = membership_ids(stack)
    if not features and registered and is_multi_cluster(stack):
        yield Finding("the stack registers fleet memberships and routes across clusters, but declares no "
                      "multiclusteringress Feature; add one whose spec.multiclusteringress.configMembership "
                      "is the config cluster's membership.")
    for feature in features:
        reference = known(lambda: feature.props.text("spec", "multiclusteringress", "configMembership") or "")
        if reference is None:
            continue
        if not reference:
            yield Finding("the multiclusteringress Feature has no spec.multiclusteringress.configMembership; "
                          "set it to the config cluster's membership "
                          "(projects/PROJECT/locations/global/memberships/NAME).", feature.urn)
            continue
        if _MEMBERSHIP_SEGMENT not in reference:
            # An opaque id (e.g. another resource's output) cannot be resolved from inputs; do not guess.
            continue
        membership_id = reference.rstrip("/").rsplit("/", 1)[-1]
        if membership_id not in registered:
            known_ids = ", ".join(sorted(registered)) or "none"
            yield Finding(f"configMembership {reference} names membership '{membership_id}', which this stack "
                          f"does not register (registered: {known_ids}); point it at one of them.", feature.urn)


RULES = (config_membership_exists,)
