"""The pack as a whole: rule metadata, the analyzer path, offline config handling, remediation, and the
issue's acceptance mutations on realistic planned stacks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from planned_stack import POOL, multi_cluster_stack, mutate, single_cluster_stack
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies import resource_types as types
from policies.offline import PlannedResource, load_pack_config, parse_pack_config, run_pack
from policies.pack import PACK_ENFORCEMENT_LEVEL, PACK_NAME, RULES, build_policies
from policies.rule import PolicyConfigError

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
IMPERATIVE = re.compile(r"^(Requires|Recommends|Prohibits) ")


def test_rule_names_are_unique_kebab_case():
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", name) for name in names)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_metadata_is_complete(rule):
    assert IMPERATIVE.match(rule.description), rule.description
    assert rule.description.endswith(".")
    assert len(rule.rationale) > 40
    assert rule.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
    schema = rule.config_schema()
    if schema is not None:
        assert "enforcementLevel" not in schema.properties, "reserved by Pulumi"
        json.dumps(schema.properties)  # must travel as JSON to the engine
        assert all("default" in spec and spec.get("description") for spec in schema.properties.values())
        rule.parse_config({})  # defaults alone are valid


def test_policies_build_and_pack_files_are_valid():
    policies = build_policies()
    assert [p.name for p in policies] == [r.name for r in RULES]
    manifest = yaml.safe_load((POLICIES_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    main = (POLICIES_DIR / "__main__.py").read_text()
    assert "PolicyPack(" in main and "build_policies()" in main
    assert re.fullmatch(r"[a-zA-Z0-9-_.]{1,100}", PACK_NAME)
    requirements = (POLICIES_DIR / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements and "pydantic" in requirements


def _analyze(resource_type: str, props: dict, config: dict | None = None) -> list:
    """Drives the SDK's own analyzer servicer (what `pulumi preview --policy-pack` talks to)."""
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", build_policies(), PACK_ENFORCEMENT_LEVEL)
    if config:
        request = proto.ConfigureAnalyzerRequest()
        for name, properties in config.items():
            request.policyConfig[name].properties.update(properties)
            request.policyConfig[name].enforcementLevel = proto.MANDATORY
        servicer.Configure(request, None)
    properties = struct_pb2.Struct()
    json_format.ParseDict(props, properties)
    return servicer.Analyze(proto.AnalyzeRequest(type=resource_type, properties=properties, urn="urn:test",
                                                 name="subject"), None)


def test_analyzer_reports_our_violations_and_unknowns_as_not_applicable():
    cluster = next(r for r in multi_cluster_stack() if r.resource_type == types.CLUSTER).inputs
    response = _analyze(types.CLUSTER, {**cluster, "podAutoscaling": {"hpaProfile": "NONE"}})
    assert [d.policyName for d in response.diagnostics] == ["gke-hpa-performance-profile"]
    assert "hpaProfile is NONE" in response.diagnostics[0].message
    assert response.diagnostics[0].enforcementLevel == proto.MANDATORY

    unknown = {**cluster, "podAutoscaling": {"hpaProfile": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}}
    response = _analyze(types.CLUSTER, unknown)
    assert list(response.diagnostics) == []
    assert [n.policy_name for n in response.not_applicable] == ["gke-hpa-performance-profile"]


def test_analyzer_passes_config_to_rules():
    policy = next(r for r in multi_cluster_stack() if r.name == "gke-west-backend-policy").inputs
    response = _analyze(types.GCP_BACKEND_POLICY, policy, config={"backend-timeout-covers-p99": {"p99LatencySec": 400}})
    assert [d.policyName for d in response.diagnostics] == ["backend-timeout-covers-p99"]


# --- offline runner --------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", [multi_cluster_stack, single_cluster_stack], ids=["multi", "single"])
def test_realistic_stacks_have_no_violations(builder):
    report = run_pack(builder())
    assert report.violations == []
    assert report.passed


ACCEPTANCE_MUTATIONS = {
    "second-subnet-purpose": (
        lambda s: [*s, PlannedResource(types.SUBNETWORK, "west-regional-proxy", {
            "region": "europe-west3", "network": "default", "ipCidrRange": "10.2.0.0/23",
            "purpose": "REGIONAL_MANAGED_PROXY", "role": "ACTIVE"})],
        "proxy-only-purposes-not-mixed", "has both REGIONAL_MANAGED_PROXY"),
    "unpinned-image": (
        lambda s: mutate(s, f"gke-east-{POOL}", lambda i: i["spec"]["template"]["spec"]["containers"][0]
                         .__setitem__("image", "vllm/vllm-openai:latest")),
        "images-pinned", "uses the moving tag 'latest'"),
    "both-balancing-modes": (
        lambda s: mutate(s, "gke-west-backend-policy", lambda i: i["spec"]["default"]
                         .__setitem__("maxInFlightRequestsPerEndpoint", 1000.0)),
        "backend-policy-single-balancing-mode", "mutually exclusive"),
    "missing-export-annotation": (
        lambda s: mutate(s, f"gke-east-{POOL}-pool", lambda i: i["metadata"].pop("annotations")),
        "inference-pool-export-annotation", "lacks the annotation networking.gke.io/export"),
    "objective-for-unknown-pool": (
        lambda s: mutate(s, "gke-west-base-model", lambda i: i["spec"]["poolRef"].__setitem__("name", "qwen3")),
        "objective-references-existing-pool", "references InferencePool 'qwen3'"),
}


@pytest.mark.parametrize("case", ACCEPTANCE_MUTATIONS, ids=list(ACCEPTANCE_MUTATIONS))
def test_acceptance_mutation_is_a_mandatory_violation(case):
    change, rule, expected = ACCEPTANCE_MUTATIONS[case]
    report = run_pack(change(multi_cluster_stack()))
    assert [v.rule for v in report.violations] == [rule]
    assert report.violations[0].level is EnforcementLevel.MANDATORY
    assert expected in report.violations[0].message
    assert report.violations[0].resource_name is not None
    assert not report.passed


def test_config_levels_follow_pulumi_semantics():
    broken = ACCEPTANCE_MUTATIONS["unpinned-image"][0](multi_cluster_stack())
    advisory = run_pack(broken, parse_pack_config({"all": "advisory"}))
    assert advisory.passed and [v.level for v in advisory.violations] == [EnforcementLevel.ADVISORY]
    specific_wins = run_pack(broken, parse_pack_config({"all": "advisory", "images-pinned": "mandatory"}))
    assert not specific_wins.passed
    disabled = run_pack(broken, parse_pack_config({"images-pinned": {"enforcementLevel": "disabled"}}))
    assert disabled.violations == []


def test_config_properties_reach_rules():
    config = parse_pack_config({"backend-timeout-covers-p99": {"p99LatencySec": 400}})
    report = run_pack(multi_cluster_stack(), config)
    assert [v.rule for v in report.violations] == ["backend-timeout-covers-p99"]
    assert "set timeoutSec to at least 800" in report.violations[0].message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"image-pinned": "mandatory"}, "unknown policy 'image-pinned' in policy config; did you mean 'images-pinned'? known: "),
        ({"images-pinned": "blocking"}, "images-pinned: enforcement level must be one of"),
        ({"all": "strict"}, "all: enforcement level must be one of"),
        ({"backend-timeout-covers-p99": {"p99LatencySeconds": 30}},
         "backend-timeout-covers-p99.p99LatencySeconds: Extra inputs are not permitted (known keys: p99LatencySec"),
        ({"backend-timeout-covers-p99": {"p99LatencySec": "slow"}}, "backend-timeout-covers-p99.p99LatencySec"),
        ({"images-pinned": 3}, "images-pinned: expected an enforcement level or an object"),
        ([], "must be a JSON object"),
    ],
    ids=["unknown-rule", "bad-level", "bad-all", "unknown-key", "bad-type", "bad-shape", "not-object"],
)
def test_bad_config_fails_before_anything_runs(raw, expected):
    with pytest.raises(PolicyConfigError) as error:
        parse_pack_config(raw)
    assert expected in str(error.value)


def test_load_config_file_errors(tmp_path):
    with pytest.raises(PolicyConfigError, match="does not exist"):
        load_pack_config(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PolicyConfigError, match="is not JSON"):
        load_pack_config(broken)
    good = tmp_path / "policy-config.json"
    good.write_text(json.dumps({"images-pinned": {"enforcementLevel": "advisory", "requireDigest": True}}))
    config = load_pack_config(good)
    assert config.levels["images-pinned"] is EnforcementLevel.ADVISORY
    assert config.properties["images-pinned"] == {"requireDigest": True}


def test_remediate_level_rewrites_inputs_then_validates():
    stack = mutate(multi_cluster_stack(), "gke-west-cluster", lambda i: i.__setitem__("podAutoscaling", None))
    stack = mutate(stack, "gke-east-cluster", lambda i: i.__setitem__("releaseChannel", {"channel": "STABLE"}))
    report = run_pack(stack, parse_pack_config({"all": "remediate"}))
    assert [(r.rule, r.resource_name) for r in report.remediations] == [
        ("gke-hpa-performance-profile", "gke-west-cluster")]
    # No remediation exists for the channel: the violation stays, reported as mandatory.
    assert [(v.rule, v.level) for v in report.violations] == [
        ("gke-rapid-release-channel", EnforcementLevel.MANDATORY)]


def test_production_flag_and_stack_tags():
    report = run_pack(multi_cluster_stack(), parse_pack_config({"deletion-protection-in-production": {
        "production": True}}))
    assert {v.rule for v in report.violations} == {"deletion-protection-in-production"}
    assert len(report.violations) == 2
    tagged = run_pack(multi_cluster_stack(), stack_tags={"environment": "Production"})
    assert len(tagged.by_rule("deletion-protection-in-production")) == 2


def test_unknowns_in_plan_are_not_applicable_not_violations():
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    stack = mutate(multi_cluster_stack(), f"gke-west-{POOL}",
                   lambda i: i["spec"]["template"]["spec"]["containers"][0].__setitem__("image", unknown))
    report = run_pack(stack)
    assert report.passed and report.violations == []
    assert any(n.rule == "images-pinned" for n in report.not_applicable)


@pytest.mark.parametrize("rule", [r for r in RULES if r.config_schema() is not None], ids=lambda r: r.name)
def test_config_schema_is_valid_json_schema_and_defaults_conform(rule):
    import jsonschema

    schema = {"type": "object", "properties": rule.config_schema().properties, "additionalProperties": False}
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = {key: spec["default"] for key, spec in schema["properties"].items()}
    jsonschema.validate(defaults, schema)


def test_example_policy_config_is_valid():
    config = load_pack_config(POLICIES_DIR / "policy-config.example.json")
    assert config.levels["images-pinned"] is EnforcementLevel.MANDATORY
    assert run_pack(single_cluster_stack(), config).passed


def test_analyzer_applies_remediations():
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", build_policies(), PACK_ENFORCEMENT_LEVEL)
    request = proto.ConfigureAnalyzerRequest()
    request.policyConfig["gke-hpa-performance-profile"].enforcementLevel = proto.REMEDIATE
    servicer.Configure(request, None)
    cluster = dict(next(r for r in multi_cluster_stack() if r.resource_type == types.CLUSTER).inputs)
    del cluster["podAutoscaling"]
    properties = struct_pb2.Struct()
    json_format.ParseDict(cluster, properties)
    response = servicer.Remediate(proto.AnalyzeRequest(type=types.CLUSTER, properties=properties, urn="urn:test",
                                                       name="subject"), None)
    [remediation] = response.remediations
    assert remediation.policyName == "gke-hpa-performance-profile"
    fixed = json_format.MessageToDict(remediation.properties)
    assert fixed["podAutoscaling"] == {"hpaProfile": "PERFORMANCE"}
    assert fixed["minMasterVersion"] == cluster["minMasterVersion"]
