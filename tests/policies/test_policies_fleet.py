"""Fleet and IAM rules: the MCI config membership exists; GPU node accounts may write autoscaling metrics."""

from __future__ import annotations

import pytest
from planned_stack import PROJECT, multi_cluster_stack, mutate, single_cluster_stack, without
from policy_harness import UNKNOWN_STRING, run_stack_rule

from policies import fleet, iam


@pytest.mark.parametrize("builder", [multi_cluster_stack, single_cluster_stack], ids=["multi", "single"])
@pytest.mark.parametrize("rule", [fleet.config_membership_exists, iam.node_sa_writes_metrics], ids=lambda r: r.name)
def test_compliant_stacks_pass(rule, builder):
    assert run_stack_rule(rule, builder()).messages == []


def test_config_membership_must_be_registered():
    stack = mutate(multi_cluster_stack(), "mci", lambda i: i["spec"]["multiclusteringress"].__setitem__(
        "configMembership", f"projects/{PROJECT}/locations/global/memberships/gke-north"))
    outcome = run_stack_rule(fleet.config_membership_exists, stack)
    assert outcome.messages == [
        f"configMembership projects/{PROJECT}/locations/global/memberships/gke-north names membership 'gke-north', "
        "which this stack does not register (registered: gke-east, gke-west); point it at one of them."]


def test_missing_config_membership_and_missing_feature():
    stack = mutate(multi_cluster_stack(), "mci", lambda i: i.pop("spec"))
    assert "has no spec.multiclusteringress.configMembership" in run_stack_rule(
        fleet.config_membership_exists, stack).messages[0]
    outcome = run_stack_rule(fleet.config_membership_exists, without(multi_cluster_stack(), "mci"))
    assert "declares no multiclusteringress Feature" in outcome.messages[0]


def test_cluster_fleet_registration_counts_as_membership():
    # Clusters registered with `fleet {project}` get a regional membership named after the cluster.
    stack = without(multi_cluster_stack(), "gke-west-membership", "gke-east-membership")
    stack = mutate(stack, "gke-west-cluster", lambda i: i.__setitem__("fleet", {"project": PROJECT}))
    stack = mutate(stack, "mci", lambda i: i["spec"]["multiclusteringress"].__setitem__(
        "configMembership", f"projects/{PROJECT}/locations/europe-west3/memberships/gke-west"))
    assert run_stack_rule(fleet.config_membership_exists, stack).messages == []


@pytest.mark.parametrize("reference", [UNKNOWN_STRING, "gke-west-membership-id"], ids=["unknown", "opaque-id"])
def test_unresolvable_reference_is_not_guessed(reference):
    stack = mutate(multi_cluster_stack(), "mci", lambda i: i["spec"]["multiclusteringress"].__setitem__(
        "configMembership", reference))
    assert run_stack_rule(fleet.config_membership_exists, stack).messages == []


def test_gpu_pool_without_metrics_writer_grant_fails():
    stack = without(multi_cluster_stack(), "gke-east-nodes-autoscaling-metricsWriter")
    outcome = run_stack_rule(iam.node_sa_writes_metrics, stack)
    assert outcome.messages == [
        f"node service account gke-east-nodes@{PROJECT}.iam.gserviceaccount.com holds none of "
        "roles/autoscaling.metricsWriter, roles/container.defaultNodeServiceAccount, so exported vLLM metrics "
        "never reach the load balancer; grant roles/autoscaling.metricsWriter to "
        f"serviceAccount:gke-east-nodes@{PROJECT}.iam.gserviceaccount.com."]
    assert outcome.urns == ["urn:test::gcp:container/nodePool:NodePool::gke-east-gpu"]


def test_default_compute_service_account_fails_for_gpu_pools_only():
    stack = mutate(multi_cluster_stack(), "gke-west-gpu", lambda i: i["nodeConfig"].pop("serviceAccount"))
    stack = mutate(stack, "gke-west-system", lambda i: i["nodeConfig"].pop("serviceAccount"))
    outcome = run_stack_rule(iam.node_sa_writes_metrics, stack)
    assert len(outcome.messages) == 1
    assert "Compute Engine default service account" in outcome.messages[0]


def test_unknown_member_defers_the_decision():
    stack = without(multi_cluster_stack(), "gke-east-nodes-autoscaling-metricsWriter")
    stack = mutate(stack, "gke-west-nodes-autoscaling-metricsWriter", lambda i: i.__setitem__("member", UNKNOWN_STRING))
    assert run_stack_rule(iam.node_sa_writes_metrics, stack).messages == []


def test_custom_role_via_config():
    stack = mutate(multi_cluster_stack(), "gke-east-nodes-autoscaling-metricsWriter",
                   lambda i: i.__setitem__("role", "projects/my-proj/roles/metricsOnly"))
    assert len(run_stack_rule(iam.node_sa_writes_metrics, stack).messages) == 1
    config = {"roles": ["roles/autoscaling.metricsWriter", "projects/my-proj/roles/metricsOnly"]}
    assert run_stack_rule(iam.node_sa_writes_metrics, stack, config=config).messages == []


def test_iam_binding_grants_count():
    from policies import resource_types as types
    from policies.offline import PlannedResource
    stack = without(multi_cluster_stack(), "gke-east-nodes-autoscaling-metricsWriter")
    binding = PlannedResource(types.PROJECT_IAM_BINDING, "metrics-writers", {
        "role": "roles/autoscaling.metricsWriter",
        "members": [f"serviceAccount:gke-east-nodes@{PROJECT}.iam.gserviceaccount.com"]})
    assert run_stack_rule(iam.node_sa_writes_metrics, [*stack, binding]).messages == []


def _preview_shaped(stack, *, grant_depends_on_account: bool):
    """Emails unknown (as in preview); pools and grants relate only through the Account they depend on."""
    from dataclasses import replace

    from policies import resource_types as types
    accounts = {r.name: f"urn:test::{types.SERVICE_ACCOUNT}::{r.name}" for r in stack
                if r.resource_type == types.SERVICE_ACCOUNT}
    result = []
    for resource in stack:
        inputs = dict(resource.inputs)
        cluster = resource.name.split("-nodes")[0].removesuffix("-gpu").removesuffix("-system")
        if resource.resource_type == types.SERVICE_ACCOUNT:
            resource = replace(resource, urn=accounts[resource.name])
        elif resource.resource_type == types.NODE_POOL:
            inputs["nodeConfig"] = {**inputs["nodeConfig"], "serviceAccount": UNKNOWN_STRING}
            resource = replace(resource, inputs=inputs, dependencies=(accounts[f"{cluster}-nodes"],))
        elif resource.resource_type == types.PROJECT_IAM_MEMBER:
            inputs["member"] = UNKNOWN_STRING
            dependencies = (accounts[f"{cluster}-nodes"],) if grant_depends_on_account else ()
            resource = replace(resource, inputs=inputs, dependencies=dependencies)
        result.append(resource)
    return result


def test_unknown_emails_are_related_through_the_account_dependency():
    assert run_stack_rule(iam.node_sa_writes_metrics,
                          _preview_shaped(multi_cluster_stack(), grant_depends_on_account=True)).messages == []
    outcome = run_stack_rule(iam.node_sa_writes_metrics,
                             _preview_shaped(multi_cluster_stack(), grant_depends_on_account=False))
    assert len(outcome.messages) == 2
    assert outcome.messages[0].startswith("node service account gke-west-nodes (email known after apply) holds none")
