"""deletion-protection-in-production: production comes from stack tags or policy config."""

from __future__ import annotations

import pytest
from planned_stack import inputs_of, multi_cluster_stack
from policy_harness import run_resource_rule, validation_args

from policies import resource_types as types
from policies.stack import deletion_protection_in_production as rule


@pytest.fixture
def cluster():
    return inputs_of(multi_cluster_stack(), "gke-west-cluster")  # deletionProtection: false (a dev stack)


def test_disposable_stack_may_turn_protection_off(cluster):
    assert run_resource_rule(rule, types.CLUSTER, cluster).messages == []
    assert run_resource_rule(rule, types.CLUSTER, cluster, stack_tags={"environment": "dev"}).messages == []


@pytest.mark.parametrize(("tags", "config"), [({"environment": "prod"}, None), ({}, {"production": True})],
                         ids=["tag", "config"])
def test_production_stack_without_protection_fails(cluster, tags, config):
    messages = run_resource_rule(rule, types.CLUSTER, cluster, stack_tags=tags, config=config).messages
    assert messages == ["deletionProtection is false on a production stack, so `pulumi destroy` or a replacing "
                        "change deletes the cluster and its GPU capacity; set deletionProtection: true."]


def test_missing_property_means_provider_default_true(cluster):
    del cluster["deletionProtection"]
    assert run_resource_rule(rule, types.CLUSTER, cluster, config={"production": True}).messages == []


def test_unknown_value_is_not_a_violation(cluster):
    cluster["deletionProtection"] = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"  # unknown boolean sentinel
    outcome = run_resource_rule(rule, types.CLUSTER, cluster, config={"production": True})
    assert outcome.messages == []
    assert outcome.not_applicable


def test_tag_key_and_values_are_configurable(cluster):
    config = {"tagKey": "tier", "productionValues": ["critical"]}
    assert run_resource_rule(rule, types.CLUSTER, cluster, stack_tags={"environment": "prod"},
                             config=config).messages == []
    assert len(run_resource_rule(rule, types.CLUSTER, cluster, stack_tags={"tier": "Critical"},
                                 config=config).messages) == 1


def test_remediation_only_when_config_marks_production(cluster):
    policy = rule.to_policy()
    assert policy.remediate(validation_args(types.CLUSTER, cluster)) is None
    fixed = policy.remediate(validation_args(types.CLUSTER, cluster, config={"production": True}))
    assert fixed["deletionProtection"] is True
    assert run_resource_rule(rule, types.CLUSTER, fixed, config={"production": True}).messages == []
