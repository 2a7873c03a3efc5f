"""GKE cluster and node-pool rules: compliant, violating, missing, unknown and config-override cases."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from planned_stack import inputs_of, multi_cluster_stack, mutate, single_cluster_stack
from policy_harness import UNKNOWN_STRING, run_resource_rule, run_stack_rule, validation_args

from policies import gke
from policies import resource_types as types
from policies.rule import PolicyConfigError


@pytest.fixture
def cluster() -> dict[str, Any]:
    return inputs_of(multi_cluster_stack(), "gke-west-cluster")


@pytest.fixture
def gpu_pool() -> dict[str, Any]:
    return inputs_of(multi_cluster_stack(), "gke-west-gpu")


CLUSTER_RULES = [gke.rapid_release_channel, gke.gateway_api_enabled, gke.managed_prometheus_dcgm,
                 gke.hpa_performance_profile]


@pytest.mark.parametrize("rule", CLUSTER_RULES, ids=lambda r: r.name)
def test_compliant_cluster_passes(rule, cluster):
    assert run_resource_rule(rule, types.CLUSTER, cluster).messages == []


@pytest.mark.parametrize("rule", CLUSTER_RULES, ids=lambda r: r.name)
def test_rules_ignore_other_resource_types(rule, cluster):
    assert run_resource_rule(rule, types.NODE_POOL, {}).messages == []


@pytest.mark.parametrize(
    ("rule", "change", "expected"),
    [
        (gke.rapid_release_channel, {"releaseChannel": {"channel": "STABLE"}}, "release channel is STABLE"),
        (gke.gateway_api_enabled, {"gatewayApiConfig": {"channel": "CHANNEL_DISABLED"}}, "Gateway API is disabled"),
        (gke.gateway_api_enabled, {"addonsConfig": {"httpLoadBalancing": {"disabled": True}}},
         "HttpLoadBalancing add-on is disabled"),
        (gke.managed_prometheus_dcgm, {"monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS"],
                                                            "managedPrometheus": {"enabled": True}}}, "lacks DCGM"),
        (gke.managed_prometheus_dcgm, {"monitoringConfig": {"enableComponents": ["DCGM"],
                                                            "managedPrometheus": {"enabled": False}}},
         "managed Prometheus is off"),
        (gke.hpa_performance_profile, {"podAutoscaling": {"hpaProfile": "NONE"}}, "hpaProfile is NONE"),
    ],
    ids=["stable-channel", "gateway-disabled", "lb-addon-off", "no-dcgm", "no-prometheus", "hpa-none"],
)
def test_violating_cluster_fails(rule, change, expected, cluster):
    cluster.update(change)
    messages = run_resource_rule(rule, types.CLUSTER, cluster).messages
    assert len(messages) == 1
    assert expected in messages[0]


@pytest.mark.parametrize("rule", CLUSTER_RULES, ids=lambda r: r.name)
def test_missing_cluster_properties_are_reported_not_crashing(rule):
    outcome = run_resource_rule(rule, types.CLUSTER, {"name": "bare"})
    assert outcome.messages, "an unset prerequisite is a violation"
    assert outcome.not_applicable is None


def test_unknown_value_is_not_applicable_not_a_violation(cluster):
    cluster["podAutoscaling"] = {"hpaProfile": UNKNOWN_STRING}
    outcome = run_resource_rule(gke.hpa_performance_profile, types.CLUSTER, cluster)
    assert outcome.messages == []
    assert "not known during preview" in (outcome.not_applicable or "")


@pytest.mark.parametrize(
    ("rule", "broken"),
    [
        (gke.gateway_api_enabled, {"gatewayApiConfig": None}),
        (gke.managed_prometheus_dcgm, {"monitoringConfig": {"enableComponents": ["APISERVER"]}}),
        (gke.hpa_performance_profile, {"podAutoscaling": {}}),
    ],
    ids=["gateway", "monitoring", "hpa"],
)
def test_remediation_fixes_what_validation_reports(rule, broken, cluster):
    cluster.update(broken)
    fixed = rule.to_policy().remediate(validation_args(types.CLUSTER, cluster))
    assert fixed is not None
    assert run_resource_rule(rule, types.CLUSTER, fixed).messages == []
    assert rule.to_policy().remediate(validation_args(types.CLUSTER, fixed)) is None, "remediation is idempotent"


# --- gke-minimum-version (stack) -------------------------------------------------------------------


def _with_version(stack, version):
    return mutate(stack, next(r.name for r in stack if r.resource_type == types.CLUSTER),
                  lambda inputs: inputs.__setitem__("minMasterVersion", version))


def test_minimum_version_passes_for_compliant_stacks():
    assert run_stack_rule(gke.minimum_version, multi_cluster_stack()).messages == []
    assert run_stack_rule(gke.minimum_version, single_cluster_stack()).messages == []


@pytest.mark.parametrize(
    ("builder", "version", "expected"),
    [
        (multi_cluster_stack, "1.33.5-gke.100", "older than 1.34.1-gke.1127000"),
        (multi_cluster_stack, "1.34.1-gke.1000000", "older than 1.34.1-gke.1127000"),
        (multi_cluster_stack, "1.33", "older than 1.34.1-gke.1127000"),
        (multi_cluster_stack, "one-point-three-four", "is not a GKE version"),
        (multi_cluster_stack, None, "minMasterVersion is not set"),
    ],
    ids=["old-minor", "old-build", "bare-minor", "garbage", "unset"],
)
def test_minimum_version_violations(builder, version, expected):
    outcome = run_stack_rule(gke.minimum_version, _with_version(builder(), version))
    assert len(outcome.messages) == 1
    assert expected in outcome.messages[0]


def test_single_cluster_stack_needs_only_the_single_cluster_minimum():
    stack = mutate(single_cluster_stack(), "gke-single-backend-policy",
                   lambda i: i["spec"]["default"].update(balancingMode=None, customMetrics=None))
    assert run_stack_rule(gke.minimum_version, _with_version(stack, "1.32.3-gke.1")).messages == []
    outcome = run_stack_rule(gke.minimum_version, _with_version(stack, "1.31.9"))
    assert "older than 1.32.3" in outcome.messages[0]


def test_custom_metrics_raise_the_single_cluster_minimum():
    outcome = run_stack_rule(gke.minimum_version, _with_version(single_cluster_stack(), "1.33.0"))
    assert "older than 1.34.1-gke.1127000" in outcome.messages[0]


def test_minimum_version_latest_and_unknown_pass():
    assert run_stack_rule(gke.minimum_version, _with_version(multi_cluster_stack(), "latest")).messages == []
    assert run_stack_rule(gke.minimum_version, _with_version(multi_cluster_stack(), UNKNOWN_STRING)).messages == []


def test_minimum_version_config_override():
    stack = multi_cluster_stack()
    outcome = run_stack_rule(gke.minimum_version, stack, config={"multiClusterMinVersion": "1.35.0"})
    assert len(outcome.messages) == 2
    assert all("older than 1.35.0" in m for m in outcome.messages)


def test_minimum_version_rejects_bad_config():
    with pytest.raises(PolicyConfigError, match=r"multiClusterMinVersion.*not a GKE version"):
        gke.minimum_version.parse_config({"multiClusterMinVersion": "soon"})


@pytest.mark.parametrize(
    ("version", "parsed"),
    [("1.34.1-gke.1127000", (1, 34, 1, 1127000)), ("1.32.3", (1, 32, 3, 0)), ("1.35", (1, 35, 0, 0)),
     ("v1.34", None)],
)
def test_parse_gke_version(version, parsed):
    assert gke.parse_gke_version(version) == parsed


# --- gpu-driver-installation ---------------------------------------------------------------------------


def test_driver_installation_compliant_and_cpu_pool(gpu_pool):
    assert run_resource_rule(gke.gpu_driver_installation, types.NODE_POOL, gpu_pool).messages == []
    cpu_pool = inputs_of(multi_cluster_stack(), "gke-west-system")
    assert run_resource_rule(gke.gpu_driver_installation, types.NODE_POOL, cpu_pool).messages == []


@pytest.mark.parametrize("installation", [None, {"gpuDriverVersion": "INSTALLATION_DISABLED"}, {}],
                         ids=["missing", "disabled", "empty"])
def test_driver_installation_violations(installation, gpu_pool):
    accelerator = gpu_pool["nodeConfig"]["guestAccelerators"][0]
    accelerator["gpuDriverInstallationConfig"] = installation
    messages = run_resource_rule(gke.gpu_driver_installation, types.NODE_POOL, gpu_pool).messages
    assert len(messages) == 1
    assert "nvidia-h100-80gb" in messages[0]
    assert "installs no NVIDIA driver" in messages[0]


def test_driver_remediation_uses_configured_version(gpu_pool):
    gpu_pool["nodeConfig"]["guestAccelerators"][0].pop("gpuDriverInstallationConfig")
    policy = gke.gpu_driver_installation.to_policy()
    fixed = policy.remediate(validation_args(types.NODE_POOL, copy.deepcopy(gpu_pool)))
    assert fixed["nodeConfig"]["guestAccelerators"][0]["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    fixed = policy.remediate(validation_args(types.NODE_POOL, gpu_pool, config={"remediationDriverVersion": "DEFAULT"}))
    assert fixed["nodeConfig"]["guestAccelerators"][0]["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "DEFAULT"
    with pytest.raises(PolicyConfigError, match="remediationDriverVersion"):
        gke.gpu_driver_installation.parse_config({"remediationDriverVersion": "INSTALLATION_DISABLED"})


# --- gpu-machine-type-matches-accelerators -------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "accelerator", "count", "expected"),
    [
        ("a3-highgpu-2g", "nvidia-h100-80gb", 2.0, None),
        ("g2-standard-24", "nvidia-l4", 2.0, None),
        ("n1-standard-8", "nvidia-tesla-t4", 4.0, None),
        ("a3-highgpu-2g", "nvidia-h100-80gb", 8.0, "has exactly 2 GPU(s)"),
        ("a3-highgpu-8g", "nvidia-l4", 8.0, "carries nvidia-h100-80gb"),
        ("n1-standard-8", "nvidia-tesla-t4", 3.0, "attach 1, 2, 4 or 8"),
        ("e2-standard-8", "nvidia-l4", 1.0, "cannot attach GPUs"),
    ],
    ids=["a3-ok", "g2-ok", "n1-ok", "a3-count", "a3-type", "n1-count", "e2-gpu"],
)
def test_machine_type_matches_accelerators(machine, accelerator, count, expected, gpu_pool):
    gpu_pool["nodeConfig"]["machineType"] = machine
    gpu_pool["nodeConfig"]["guestAccelerators"][0].update(type=accelerator, count=count)
    messages = run_resource_rule(gke.machine_type_matches_accelerators, types.NODE_POOL, gpu_pool).messages
    if expected is None:
        assert messages == []
    else:
        assert len(messages) == 1
        assert expected in messages[0]


def test_machine_type_missing_properties(gpu_pool):
    del gpu_pool["nodeConfig"]["machineType"]
    assert run_resource_rule(gke.machine_type_matches_accelerators, types.NODE_POOL, gpu_pool).messages == []
    assert run_resource_rule(gke.machine_type_matches_accelerators, types.NODE_POOL, {}).messages == []


# --- node-pool-zones-in-cluster-region ----------------------------------------------------------------


def test_zones_compliant():
    assert run_stack_rule(gke.node_pool_zones_in_region, multi_cluster_stack()).messages == []


def test_zone_outside_region_fails():
    stack = mutate(multi_cluster_stack(), "gke-east-gpu", lambda i: i.__setitem__("nodeLocations", ["us-west1-b"]))
    outcome = run_stack_rule(gke.node_pool_zones_in_region, stack)
    assert outcome.messages == ["nodeLocations zone us-west1-b is outside the cluster's region us-east4; pick a zone "
                                "in us-east4."]


def test_pool_location_must_be_cluster_location():
    # Google's multi-cluster Inference Gateway guide passes the zone as the pool's location; for a regional cluster that is wrong.
    stack = mutate(multi_cluster_stack(), "gke-west-gpu", lambda i: i.__setitem__("location", "europe-west3-c"))
    outcome = run_stack_rule(gke.node_pool_zones_in_region, stack)
    assert len(outcome.messages) == 1
    assert "differs from its cluster's location europe-west3" in outcome.messages[0]


def test_zones_missing_and_unknown_cluster_reference():
    stack = mutate(multi_cluster_stack(), "gke-west-gpu", lambda i: i.update(cluster=UNKNOWN_STRING))
    stack = mutate(stack, "gke-east-gpu", lambda i: i.pop("nodeLocations"))
    assert run_stack_rule(gke.node_pool_zones_in_region, stack).messages == []


def test_remediation_keeps_secrets_and_unknowns_it_does_not_touch(cluster):
    # As in the analyzer's Remediate: inputs behind the SDK's secret-preserving proxy, secrets as Secret.
    from pulumi_policy.secret import Secret, secrets_preserving_proxy

    raw = {**cluster, "podAutoscaling": None, "resourceLabels": Secret({"team": "ml"}),
           "nodeConfig": {"serviceAccount": UNKNOWN_STRING},
           "monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS"], "managedPrometheus": {"enabled": True},
                                "advancedDatapathObservabilityConfig": Secret({"enableMetrics": True})}}
    props = secrets_preserving_proxy(raw)
    fixed = gke.hpa_performance_profile.to_policy().remediate(validation_args(types.CLUSTER, props))
    assert fixed["podAutoscaling"] == {"hpaProfile": "PERFORMANCE"}
    assert isinstance(raw["resourceLabels"], Secret), "the untouched secret stays a secret"
    assert raw["nodeConfig"]["serviceAccount"] == UNKNOWN_STRING
    # A remediation deep inside a mapping leaves that mapping's other (secret) members alone.
    gke.managed_prometheus_dcgm.to_policy().remediate(validation_args(types.CLUSTER, props))
    assert raw["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS", "DCGM"]
    assert isinstance(raw["monitoringConfig"]["advancedDatapathObservabilityConfig"], Secret)


def test_no_remediation_when_the_checked_value_is_unknown(cluster):
    cluster["podAutoscaling"] = {"hpaProfile": UNKNOWN_STRING}
    assert gke.hpa_performance_profile.to_policy().remediate(validation_args(types.CLUSTER, cluster)) is None
