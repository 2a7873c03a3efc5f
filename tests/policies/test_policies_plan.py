"""The pack over the real offline plan of the dev (multi-cluster) and single stacks: no mandatory
violation as committed, and the issue's acceptance mutations each caught. The CLI test checks that
`infgw plan` exits non-zero and names the rule.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from policies import resource_types as types
from policies.offline import PlannedResource, planned_from_records, run_pack

STACKS = ("dev", "single")


@pytest.fixture(scope="module")
def planned(_plan_recorder_session, repo_root: Path) -> dict[str, list[PlannedResource]]:
    """Both stacks planned once for this module through the process's one Pulumi mock runtime."""
    from components.config_sources import read_stack
    from infgw.plan.model import UNKNOWN
    from infgw.plan.runner import run_program

    plans = {}
    for stack in STACKS:
        plan = run_program(_plan_recorder_session, read_stack(stack, repo_root), repo_root / "__main__.py")
        plans[stack] = planned_from_records(plan.resources, unknown_marker=UNKNOWN)
    _plan_recorder_session.clear()
    return plans


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_have_no_mandatory_violation(planned, stack):
    report = run_pack(planned[stack])
    assert report.mandatory == [], [f"{v.rule}: {v.message}" for v in report.mandatory]


def _first(resources: list[PlannedResource], matches: Callable[[PlannedResource], bool]) -> PlannedResource:
    return next(r for r in resources if matches(r))


def _edit(resources: list[PlannedResource], target: PlannedResource,
          change: Callable[[dict[str, Any]], None]) -> list[PlannedResource]:
    inputs = copy.deepcopy(dict(target.inputs))
    change(inputs)
    return [replace(r, inputs=inputs) if r is target else r for r in resources]


def _model_server(resources):
    return _first(resources, lambda r: r.resource_type == types.DEPLOYMENT and "vllm/" in json.dumps(r.inputs))


MUTATIONS = {
    "second-subnet-purpose": (
        lambda rs: [*rs, replace(_first(rs, lambda r: r.resource_type == types.SUBNETWORK), name="extra-proxy",
                                 urn="urn:test::extra-proxy",
                                 inputs={**_first(rs, lambda r: r.resource_type == types.SUBNETWORK).inputs,
                                         "purpose": "REGIONAL_MANAGED_PROXY", "ipCidrRange": "10.99.0.0/23"})],
        "proxy-only-purposes-not-mixed"),
    "unpinned-image": (
        lambda rs: _edit(rs, _model_server(rs), lambda i: i["spec"]["template"]["spec"]["containers"][0]
                         .__setitem__("image", "vllm/vllm-openai:latest")),
        "images-pinned"),
    "both-balancing-modes": (
        lambda rs: _edit(rs, _first(rs, lambda r: types.is_backend_policy(r.resource_type)),
                         lambda i: i["spec"]["default"].update(
                             balancingMode="CUSTOM_METRICS", maxInFlightRequestsPerEndpoint=1000.0)),
        "backend-policy-single-balancing-mode"),
    "missing-export-annotation": (
        lambda rs: _edit(rs, _first(rs, lambda r: types.is_inference_pool(r.resource_type)),
                         lambda i: i["metadata"].pop("annotations")),
        "inference-pool-export-annotation"),
    "objective-for-unknown-pool": (
        lambda rs: _edit(rs, _first(rs, lambda r: types.is_inference_objective(r.resource_type)),
                         lambda i: i["spec"]["poolRef"].__setitem__("name", "no-such-pool")),
        "objective-references-existing-pool"),
    # Beyond the list: rules that relate resources must engage on the real plan too.
    "picker-writable-root": (
        lambda rs: _edit(rs, _first(rs, lambda r: r.resource_type == types.DEPLOYMENT and "picker" in json.dumps(r.inputs)),
                         lambda i: i["spec"]["template"]["spec"]["containers"][0]["securityContext"]
                         .pop("readOnlyRootFilesystem")),
        "picker-pod-hardened"),
    "model-server-without-startup-probe": (
        lambda rs: _edit(rs, _model_server(rs), lambda i: i["spec"]["template"]["spec"]["containers"][0]
                         .pop("startupProbe")),
        "model-server-probes"),
    "old-gke-version": (
        lambda rs: _edit(rs, _first(rs, lambda r: r.resource_type == types.CLUSTER),
                         lambda i: i.__setitem__("minMasterVersion", "1.33.0")),
        "gke-minimum-version"),
}


@pytest.mark.parametrize("case", MUTATIONS, ids=list(MUTATIONS))
def test_mutated_dev_plan_names_the_rule(planned, case):
    mutate, rule = MUTATIONS[case]
    report = run_pack(mutate(planned["dev"]))
    assert rule in {v.rule for v in report.mandatory}
    assert not report.passed


@pytest.mark.integration
def test_plan_cli_exits_non_zero_and_names_the_rule(repo_root, tmp_path):
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"backend-timeout-covers-p99": {"p99LatencySec": 400}}))
    completed = subprocess.run(
        [sys.executable, "-m", "infgw", "plan", "--stack", "dev", "--policy-config", str(config)],
        cwd=repo_root, capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "200"},
    )
    assert completed.returncode == 1, completed.stderr
    assert "MANDATORY backend-timeout-covers-p99" in completed.stdout
    assert "set timeoutSec to at least 800" in completed.stdout


def test_plan_cli_rejects_bad_policy_config_before_planning(repo_root, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from infgw.cli import app

    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"image-pinned": "mandatory"}))
    monkeypatch.chdir(repo_root)
    result = CliRunner().invoke(app, ["plan", "--stack", "dev", "--policy-config", str(config)])
    assert result.exit_code == 2
    assert "unknown policy 'image-pinned' in policy config; did you mean 'images-pinned'?" in result.output
    missing = CliRunner().invoke(app, ["plan", "--stack", "dev", "--policy-config", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output


def test_remediation_on_the_real_plan_despite_unknown_inputs(planned):
    from policies.offline import parse_pack_config

    cluster = _first(planned["dev"], lambda r: r.resource_type == types.CLUSTER)
    broken = _edit(planned["dev"], cluster, lambda i: i.pop("podAutoscaling"))
    report = run_pack(broken, parse_pack_config({"gke-hpa-performance-profile": "remediate"}))
    assert [(r.rule, r.resource_name) for r in report.remediations] == [("gke-hpa-performance-profile", cluster.name)]
    assert report.passed
