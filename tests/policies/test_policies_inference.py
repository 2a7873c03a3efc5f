"""Inference rules: backend/health-check policies per resource; pools and objectives across the stack."""

from __future__ import annotations

from typing import Any

import pytest
from planned_stack import POOL, inputs_of, multi_cluster_stack, mutate, single_cluster_stack, without
from policy_harness import UNKNOWN_STRING, run_resource_rule, run_stack_rule

from policies import inference
from policies import resource_types as types
from policies.offline import PlannedResource
from policies.rule import PolicyConfigError


@pytest.fixture
def backend_policy() -> dict[str, Any]:
    return inputs_of(multi_cluster_stack(), "gke-west-backend-policy")


def _default(props: dict[str, Any]) -> dict[str, Any]:
    return props["spec"]["default"]


BACKEND_RULES = [inference.single_balancing_mode, inference.backend_timeout_covers_p99,
                 inference.custom_metric_utilization_range]


@pytest.mark.parametrize("rule", BACKEND_RULES, ids=lambda r: r.name)
def test_compliant_backend_policy_passes(rule, backend_policy):
    assert run_resource_rule(rule, types.GCP_BACKEND_POLICY, backend_policy).messages == []


@pytest.mark.parametrize("rule", BACKEND_RULES, ids=lambda r: r.name)
def test_backend_policy_without_default_is_handled(rule):
    props = {"spec": {"targetRef": {"kind": "InferencePool", "name": POOL}}}
    assert run_resource_rule(rule, types.GCP_BACKEND_POLICY, props).messages == []
    assert run_resource_rule(rule, types.GCP_BACKEND_POLICY, {}).messages == []


def test_in_flight_policy_passes():
    props = {"spec": {"default": {"balancingMode": "IN_FLIGHT", "maxInFlightRequestsPerEndpoint": 1000.0,
                                  "timeoutSec": 600.0}}}
    for rule in BACKEND_RULES:
        assert run_resource_rule(rule, types.GCP_BACKEND_POLICY, props).messages == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"maxInFlightRequestsPerEndpoint": 1000.0}, "remove maxInFlightRequestsPerEndpoint"),
        ({"balancingMode": "IN_FLIGHT", "maxInFlightRequestsPerEndpoint": 10.0}, "remove customMetrics"),
        ({"customMetrics": []}, "needs customMetrics"),
        ({"balancingMode": "IN_FLIGHT", "customMetrics": None}, "needs an explicit maxInFlightRequestsPerEndpoint"),
        ({"balancingMode": None, "maxInFlightRequestsPerEndpoint": 5.0}, "configure both balancing modes"),
        ({"balancingMode": None}, "set balancingMode: CUSTOM_METRICS"),
        ({"balancingMode": "RATE"}, "'RATE' is not one of"),
    ],
    ids=["custom+inflight-field", "inflight+custom-field", "custom-no-metrics", "inflight-no-capacity",
         "both-without-mode", "fields-without-mode", "unknown-mode"],
)
def test_balancing_mode_violations(change, expected, backend_policy):
    _default(backend_policy).update(change)
    messages = run_resource_rule(inference.single_balancing_mode, types.GCP_BACKEND_POLICY, backend_policy).messages
    assert len(messages) == 1
    assert expected in messages[0]


@pytest.mark.parametrize(
    ("timeout", "config", "expected"),
    [
        (59.0, None, "timeoutSec 59 is below 2 x the P99 latency of 30 s"),
        (None, None, "timeoutSec is unset (GKE default 30)"),
        (600.0, {"p99LatencySec": 400}, "set timeoutSec to at least 800"),
        (600.0, {"p99LatencySec": 200, "multiplier": 3}, None),
        (4000.0, None, "exceeds 3600"),
    ],
    ids=["below-floor", "unset", "override-p99", "override-multiplier", "above-ceiling"],
)
def test_backend_timeout(timeout, config, expected, backend_policy):
    _default(backend_policy)["timeoutSec"] = timeout
    messages = run_resource_rule(inference.backend_timeout_covers_p99, types.GCP_BACKEND_POLICY, backend_policy,
                                 config=config).messages
    if expected is None:
        assert messages == []
    else:
        assert len(messages) == 1
        assert expected in messages[0]


def test_backend_timeout_rejects_impossible_config():
    with pytest.raises(PolicyConfigError, match="no timeout could comply"):
        inference.backend_timeout_covers_p99.parse_config({"p99LatencySec": 3000})
    with pytest.raises(PolicyConfigError, match="p99LatencySec"):
        inference.backend_timeout_covers_p99.parse_config({"p99LatencySec": -1})


def test_unknown_timeout_is_not_applicable(backend_policy):
    _default(backend_policy)["timeoutSec"] = "3eeb2bf0-c639-47a8-9e75-3b44932eb421"
    outcome = run_resource_rule(inference.backend_timeout_covers_p99, types.GCP_BACKEND_POLICY, backend_policy)
    assert outcome.messages == []
    assert outcome.not_applicable


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ({"maxUtilizationPercent": 100.0}, None),
        ({}, None),
        ({"maxUtilizationPercent": 0.0}, "outside 1..100"),
        ({"maxUtilizationPercent": 160.0}, "outside 1..100"),
        ({"maxUtilizationPercent": 60.5}, "outside 1..100"),
        ({"maxUtilizationPercent": "sixty"}, "must be an integer"),
        ({"maxUtilization": 0.6}, "maxUtilization is the Compute Engine field"),
    ],
    ids=["100", "default", "0", "160", "fraction", "text", "compute-field"],
)
def test_utilization_range(metric, expected, backend_policy):
    _default(backend_policy)["customMetrics"] = [{"name": "gke.named_metrics.kv-cache", **metric}]
    messages = run_resource_rule(inference.custom_metric_utilization_range, types.GCP_BACKEND_POLICY,
                                 backend_policy).messages
    if expected is None:
        assert messages == []
    else:
        assert len(messages) == 1
        assert expected in messages[0]
        assert messages[0].startswith("gke.named_metrics.kv-cache:")


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        ({"checkIntervalSec": 2.0, "timeoutSec": 2.0}, None),
        ({"checkIntervalSec": 10.0, "timeoutSec": 5.0}, None),
        ({}, None),
        ({"timeoutSec": 5.0}, None),
        ({"checkIntervalSec": 2.0, "timeoutSec": 3.0}, "timeoutSec 3 exceeds checkIntervalSec 2;"),
        ({"timeoutSec": 6.0}, "exceeds checkIntervalSec 5 (default)"),
    ],
    ids=["equal", "shorter", "defaults", "timeout-default-interval", "longer", "longer-than-default"],
)
def test_health_check_timing(default, expected):
    props = {"spec": {"default": default}}
    messages = run_resource_rule(inference.health_check_timeout_within_interval, types.HEALTH_CHECK_POLICY,
                                 props).messages
    assert messages == ([] if expected is None else [messages[0]])
    if expected is not None:
        assert expected in messages[0]


# --- stack rules ---------------------------------------------------------------------------------


STACK_RULES = [inference.export_annotation, inference.pool_matches_model_server, inference.objective_references_pool,
               inference.objective_needs_engine_priority]


@pytest.mark.parametrize("rule", STACK_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("builder", [multi_cluster_stack, single_cluster_stack], ids=["multi", "single"])
def test_compliant_stacks_pass(rule, builder):
    assert run_stack_rule(rule, builder()).messages == []


def test_missing_export_annotation_fails_in_multi_cluster_only():
    pool = f"gke-east-{POOL}-pool"
    stack = mutate(multi_cluster_stack(), pool, lambda i: i["metadata"].pop("annotations"))
    outcome = run_stack_rule(inference.export_annotation, stack)
    assert len(outcome.messages) == 1
    assert 'lacks the annotation networking.gke.io/export: "True"' in outcome.messages[0]
    assert outcome.urns == [next(r.urn for r in stack if r.name == pool)]


def test_wrong_export_value_is_quoted():
    stack = mutate(multi_cluster_stack(), f"gke-east-{POOL}-pool",
                   lambda i: i["metadata"]["annotations"].__setitem__("networking.gke.io/export", "true"))
    assert "(found 'true')" in run_stack_rule(inference.export_annotation, stack).messages[0]


def test_export_through_a_patch_counts():
    pool_name = f"gke-east-{POOL}-pool"
    stack = mutate(multi_cluster_stack(), pool_name, lambda i: i["metadata"].pop("annotations"))
    east_provider = next(r.provider_urn for r in stack if r.name == pool_name)
    patch = PlannedResource("kubernetes:inference.networking.k8s.io/v1:InferencePoolPatch", "export-east", {
        "metadata": {"name": POOL, "namespace": "default", "annotations": {"networking.gke.io/export": "True"}}},
        provider_urn=east_provider)
    assert run_stack_rule(inference.export_annotation, [*stack, patch]).messages == []


def test_unknown_annotation_is_skipped():
    stack = mutate(multi_cluster_stack(), f"gke-east-{POOL}-pool",
                   lambda i: i["metadata"].__setitem__("annotations", {"networking.gke.io/export": UNKNOWN_STRING}))
    assert run_stack_rule(inference.export_annotation, stack).messages == []


def test_pool_selector_matching_no_workload_fails():
    stack = mutate(multi_cluster_stack(), f"gke-west-{POOL}-pool",
                   lambda i: i["spec"]["selector"]["matchLabels"].__setitem__("app", "vllm-typo"))
    outcome = run_stack_rule(inference.pool_matches_model_server, stack)
    assert len(outcome.messages) == 1
    assert "selects {'app': 'vllm-typo'} in namespace default, but no model-server workload" in outcome.messages[0]


def test_pool_port_mismatch_fails():
    stack = mutate(multi_cluster_stack(), f"gke-west-{POOL}-pool",
                   lambda i: i["spec"].__setitem__("targetPorts", [{"number": 8080.0}]))
    outcome = run_stack_rule(inference.pool_matches_model_server, stack)
    assert outcome.messages == [f"InferencePool {POOL} targets port(s) [8080], but the selected model server listens "
                                "on [8000]; align targetPorts with the container's port."]


def test_pool_matches_only_workloads_in_its_cluster():
    # The east pool must not be satisfied by the west Deployment.
    stack = without(multi_cluster_stack(), f"gke-east-{POOL}")
    outcome = run_stack_rule(inference.pool_matches_model_server, stack)
    assert len(outcome.messages) == 1


def test_pool_empty_selector_and_legacy_selector():
    stack = mutate(multi_cluster_stack(), f"gke-west-{POOL}-pool", lambda i: i["spec"].__setitem__("selector", {}))
    assert "has an empty selector" in run_stack_rule(inference.pool_matches_model_server, stack).messages[0]
    legacy = mutate(multi_cluster_stack(), f"gke-west-{POOL}-pool", lambda i: i["spec"].update(
        selector={"app": POOL}, targetPorts=None, targetPortNumber=8000.0))
    assert run_stack_rule(inference.pool_matches_model_server, legacy).messages == []


def test_objective_for_unknown_pool_fails():
    stack = mutate(multi_cluster_stack(), "gke-east-food-review",
                   lambda i: i["spec"]["poolRef"].__setitem__("name", "llama-typo"))
    outcome = run_stack_rule(inference.objective_references_pool, stack)
    assert outcome.messages == [
        "InferenceObjective food-review references InferencePool 'llama-typo' in namespace default, which this "
        f"stack does not declare in that cluster (pools: {POOL}); fix spec.poolRef.name."]


def test_objective_in_other_namespace_or_without_pool_ref_fails():
    stack = mutate(multi_cluster_stack(), "gke-east-food-review",
                   lambda i: i["metadata"].__setitem__("namespace", "team-a"))
    assert "in namespace team-a" in run_stack_rule(inference.objective_references_pool, stack).messages[0]
    stack = mutate(multi_cluster_stack(), "gke-east-base-model", lambda i: i["spec"].pop("poolRef"))
    assert "has no spec.poolRef.name" in run_stack_rule(inference.objective_references_pool, stack).messages[0]


def test_objective_check_defers_to_auto_named_pools_and_charts():
    stack = mutate(multi_cluster_stack(), f"gke-west-{POOL}-pool", lambda i: i["metadata"].pop("name"))
    stack = mutate(stack, "gke-east-food-review", lambda i: i["spec"]["poolRef"].__setitem__("name", "other"))
    assert run_stack_rule(inference.objective_references_pool, stack).messages == []
    chart = PlannedResource(types.HELM_CHART_V4, "other", {
        "chart": "oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool", "version": "v1.5.0"})
    stack = mutate(multi_cluster_stack(), "gke-east-food-review",
                   lambda i: i["spec"]["poolRef"].__setitem__("name", "other"))
    assert run_stack_rule(inference.objective_references_pool, [*stack, chart]).messages == []


# --- objective-priority-needs-engine-priority ------------------------------------------------------------


def _vllm_args(stack, args):
    for name in [r.name for r in stack if r.name.endswith(POOL) and r.resource_type == types.DEPLOYMENT]:
        stack = mutate(stack, name, lambda i: i["spec"]["template"]["spec"]["containers"][0].__setitem__("args", args))
    return stack


FCFS_ARGS = ["--model", "m", "--port", "8000"]


@pytest.mark.parametrize("builder", [multi_cluster_stack, single_cluster_stack], ids=["multi", "single"])
def test_priority_objectives_on_an_fcfs_model_server_get_an_advisory(builder):
    assert inference.objective_needs_engine_priority.enforcement_level.value == "advisory"
    outcome = run_stack_rule(inference.objective_needs_engine_priority, _vllm_args(builder(), FCFS_ARGS))
    clusters = 2 if builder is multi_cluster_stack else 1
    assert len(outcome.messages) == 2 * clusters  # food-review (1) and base-model (2), per cluster
    assert outcome.messages[0].startswith(
        f"InferenceObjective food-review has priority 1, but the model server of InferencePool {POOL} "
        f"({POOL}, container vllm) runs without --scheduling-policy priority")
    assert "services.pools[].schedulingPolicy: priority" in outcome.messages[0]


@pytest.mark.parametrize("args", [
    ["--model", "m", "--port", "8000", "--scheduling-policy", "priority"],
    ["--model", "m", "--port=8000", "--scheduling-policy=priority"],
    ["exec python3 -m vllm.entrypoints.openai.api_server --model m --port 8000 --scheduling-policy priority"],
], ids=["separate", "equals", "shell line"])
def test_priority_scheduling_model_server_passes(args):
    for builder in (single_cluster_stack, multi_cluster_stack):
        stack = _vllm_args(builder(), args)
        assert run_stack_rule(inference.objective_needs_engine_priority, stack).messages == []


@pytest.mark.parametrize("args", [
    [*FCFS_ARGS, "--scheduling-policy", "fcfs"],
    [*FCFS_ARGS, "--scheduling-policy"],
    ["exec vllm serve m --port 8000 --scheduling-policy 'priority"],  # unbalanced quote: split on spaces
])
def test_fcfs_or_a_dangling_flag_is_not_priority_scheduling(args):
    outcome = run_stack_rule(inference.objective_needs_engine_priority, _vllm_args(single_cluster_stack(), args))
    assert len(outcome.messages) == 2


def test_default_priority_objectives_need_nothing():
    stack = _vllm_args(single_cluster_stack(), FCFS_ARGS)
    stack = mutate(stack, "gke-single-food-review", lambda i: i["spec"].__setitem__("priority", 0.0))
    stack = mutate(stack, "gke-single-base-model", lambda i: i["spec"].pop("priority"))
    assert run_stack_rule(inference.objective_needs_engine_priority, stack).messages == []


def test_unknown_args_are_not_applicable():
    stack = _vllm_args(single_cluster_stack(), [UNKNOWN_STRING])
    assert run_stack_rule(inference.objective_needs_engine_priority, stack).messages == []
