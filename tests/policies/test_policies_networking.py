"""Proxy-only subnet rules over whole stacks: per gateway region, purposes not mixed, ranges disjoint."""

from __future__ import annotations

import pytest
from planned_stack import multi_cluster_stack, mutate, single_cluster_stack, without
from policy_harness import UNKNOWN_STRING, run_stack_rule

from policies import networking
from policies import resource_types as types
from policies.offline import PlannedResource


def _subnet(name, region, cidr, purpose, role="ACTIVE", network="default"):
    return PlannedResource(types.SUBNETWORK, name, {"region": region, "network": network, "ipCidrRange": cidr,
                                                    "purpose": purpose, "role": role})


RULES = [networking.proxy_subnet_per_gateway_region, networking.proxy_purposes_not_mixed,
         networking.proxy_cidrs_disjoint]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("builder", [multi_cluster_stack, single_cluster_stack], ids=["multi", "single"])
def test_compliant_stacks_pass(rule, builder):
    assert run_stack_rule(rule, builder()).messages == []


def test_gateway_region_without_subnet_fails():
    outcome = run_stack_rule(networking.proxy_subnet_per_gateway_region,
                             without(multi_cluster_stack(), "gke-east-proxy-only"))
    assert outcome.messages == [
        "Gateway class gke-l7-cross-regional-internal-managed-mc needs an ACTIVE GLOBAL_MANAGED_PROXY proxy-only "
        "subnet in us-east4, and the stack declares none. Add one (a /23 is typical)."]


def test_wrong_purpose_is_named():
    stack = mutate(multi_cluster_stack(), "gke-east-proxy-only",
                   lambda i: i.__setitem__("purpose", "REGIONAL_MANAGED_PROXY"))
    outcome = run_stack_rule(networking.proxy_subnet_per_gateway_region, stack)
    assert len(outcome.messages) == 1
    assert "the region only has REGIONAL_MANAGED_PROXY" in outcome.messages[0]


def test_regional_gateway_uses_cluster_region():
    outcome = run_stack_rule(networking.proxy_subnet_per_gateway_region,
                             without(single_cluster_stack(), "gke-single-proxy-only"))
    assert len(outcome.messages) == 1
    assert "REGIONAL_MANAGED_PROXY proxy-only subnet in us-central1" in outcome.messages[0]


def test_global_external_gateway_needs_no_subnet():
    stack = mutate(without(single_cluster_stack(), "gke-single-proxy-only"), "gke-single-gateway",
                   lambda i: i["spec"].__setitem__("gatewayClassName", "gke-l7-global-external-managed"))
    assert run_stack_rule(networking.proxy_subnet_per_gateway_region, stack).messages == []


def test_two_active_subnets_of_one_purpose_fail_but_backup_is_fine():
    extra = _subnet("west-second", "europe-west3", "10.9.0.0/23", "GLOBAL_MANAGED_PROXY")
    outcome = run_stack_rule(networking.proxy_subnet_per_gateway_region, [*multi_cluster_stack(), extra])
    assert len(outcome.messages) == 1
    assert "2 ACTIVE GLOBAL_MANAGED_PROXY subnets" in outcome.messages[0]
    backup = _subnet("west-backup", "europe-west3", "10.9.0.0/23", "GLOBAL_MANAGED_PROXY", role="BACKUP")
    assert run_stack_rule(networking.proxy_subnet_per_gateway_region, [*multi_cluster_stack(), backup]).messages == []


def test_second_purpose_in_region_fails():
    extra = _subnet("west-regional", "europe-west3", "10.2.0.0/23", "REGIONAL_MANAGED_PROXY")
    outcome = run_stack_rule(networking.proxy_purposes_not_mixed, [*multi_cluster_stack(), extra])
    assert len(outcome.messages) == 1
    assert "europe-west3 on network default has both REGIONAL_MANAGED_PROXY (west-regional)" in outcome.messages[0]
    other_network = _subnet("west-regional", "europe-west3", "10.2.0.0/23", "REGIONAL_MANAGED_PROXY", network="vpc2")
    assert run_stack_rule(networking.proxy_purposes_not_mixed, [*multi_cluster_stack(), other_network]).messages == []


def test_network_names_compare_by_last_segment():
    extra = _subnet("west-regional", "europe-west3", "10.2.0.0/23", "REGIONAL_MANAGED_PROXY",
                    network="projects/my-proj/global/networks/default")
    assert len(run_stack_rule(networking.proxy_purposes_not_mixed, [*multi_cluster_stack(), extra]).messages) == 1


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (_subnet("overlap-proxy", "us-west1", "10.0.1.0/24", "GLOBAL_MANAGED_PROXY"), "overlaps"),
        (_subnet("workload", "europe-west3", "10.5.0.0/16", "PRIVATE"), "overlaps"),
        (_subnet("bad", "us-west1", "10.0.0.0/33", "GLOBAL_MANAGED_PROXY"), "is not a CIDR range"),
    ],
    ids=["proxy-proxy", "proxy-private", "garbage"],
)
def test_overlapping_ranges_fail(extra, expected):
    outcome = run_stack_rule(networking.proxy_cidrs_disjoint, [*multi_cluster_stack(), extra])
    assert len(outcome.messages) == 1
    assert expected in outcome.messages[0]


def test_private_subnets_may_overlap_other_networks():
    extra = _subnet("elsewhere", "europe-west3", "10.0.0.0/16", "PRIVATE", network="other-vpc")
    assert run_stack_rule(networking.proxy_cidrs_disjoint, [*multi_cluster_stack(), extra]).messages == []


def test_unknown_and_missing_subnet_fields_are_skipped():
    stack = mutate(multi_cluster_stack(), "gke-east-proxy-only", lambda i: i.__setitem__("region", UNKNOWN_STRING))
    stack = mutate(stack, "gke-west-proxy-only", lambda i: i.pop("ipCidrRange"))
    for rule in RULES:
        assert run_stack_rule(rule, stack).messages == []


@pytest.mark.parametrize(
    ("gateway_class", "purpose"),
    [("gke-l7-cross-regional-internal-managed-mc", "GLOBAL_MANAGED_PROXY"),
     ("gke-l7-rilb", "REGIONAL_MANAGED_PROXY"), ("gke-l7-regional-external-managed-mc", "REGIONAL_MANAGED_PROXY"),
     ("gke-l7-global-external-managed", None), ("gke-l7-gxlb-mc", None)],
)
def test_required_proxy_purpose(gateway_class, purpose):
    assert networking.required_proxy_purpose(gateway_class) == purpose


EXTERNAL_REGIONAL = {"name": "team-b-proxy", "region": "europe-west3", "purpose": "REGIONAL_MANAGED_PROXY",
                     "ipCidrRange": "10.0.0.0/24"}


def test_external_subnets_from_config_take_part():
    config = {"externalSubnets": [EXTERNAL_REGIONAL]}
    mixed = run_stack_rule(networking.proxy_purposes_not_mixed, multi_cluster_stack(), config=config)
    assert len(mixed.messages) == 1
    assert "REGIONAL_MANAGED_PROXY (team-b-proxy (external))" in mixed.messages[0]
    assert mixed.urns[0].endswith("gke-west-proxy-only")
    overlap = run_stack_rule(networking.proxy_cidrs_disjoint, multi_cluster_stack(), config=config)
    assert len(overlap.messages) == 1
    assert "10.0.0.0/23 (gke-west-proxy-only) overlaps 10.0.0.0/24 (team-b-proxy (external))" in overlap.messages[0]


def test_external_proxy_subnet_satisfies_the_gateway_region():
    stack = without(multi_cluster_stack(), "gke-east-proxy-only")
    config = {"externalSubnets": [{"name": "shared-east", "region": "us-east4", "purpose": "GLOBAL_MANAGED_PROXY"}]}
    assert run_stack_rule(networking.proxy_subnet_per_gateway_region, stack, config=config).messages == []


def test_only_external_conflicts_are_not_this_stacks_problem():
    config = {"externalSubnets": [
        {"name": "a", "region": "asia-east1", "purpose": "REGIONAL_MANAGED_PROXY", "ipCidrRange": "10.50.0.0/23"},
        {"name": "b", "region": "asia-east1", "purpose": "GLOBAL_MANAGED_PROXY", "ipCidrRange": "10.50.0.0/23"}]}
    for rule in RULES:
        assert run_stack_rule(rule, multi_cluster_stack(), config=config).messages == []


def test_external_subnet_config_is_validated():
    from policies.rule import PolicyConfigError
    with pytest.raises(PolicyConfigError, match=r"externalSubnets\.0\.region"):
        networking.proxy_cidrs_disjoint.parse_config({"externalSubnets": [{"name": "x"}]})
