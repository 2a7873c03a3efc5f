"""The pack over the real offline plans of the dev (multi-cluster) and single stacks, produced by the real
`infgw plan --json` in subprocesses (so these tests share no Pulumi mock runtime with others): no mandatory
violation as committed, the issue's acceptance mutations each caught, and the CLI's exit codes.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from policies import resource_types as types
from policies.check import PLAN_UNKNOWN_MARKER, read_saved_plan
from policies.offline import PlannedResource, planned_from_records, run_pack

STACKS = ("dev", "single")
# Makes the committed dev stack fail one mandatory rule, so the CLI's exit path is exercised too.
STRICT_P99_CONFIG = {"backend-timeout-covers-p99": {"p99LatencySec": 400}}


@dataclass(frozen=True)
class PlannedStack:
    exit_code: int
    stdout: str
    stderr: str
    resources: list[PlannedResource]


@pytest.fixture(scope="module")
def planned(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, PlannedStack]:
    """`infgw plan --json` for both stacks, run concurrently; dev with STRICT_P99_CONFIG."""
    workdir = tmp_path_factory.mktemp("plans")
    strict = workdir / "strict.json"
    strict.write_text(json.dumps(STRICT_P99_CONFIG))
    extra = {"dev": ["--policy-config", str(strict)], "single": []}
    processes = {
        stack: subprocess.Popen(
            [sys.executable, "-m", "infgw", "plan", "--stack", stack, "--json", str(workdir / f"{stack}.json"),
             *extra[stack]],
            cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        for stack in STACKS
    }
    results = {}
    for stack, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for other in processes.values():
                other.kill()
                other.communicate()
            raise
        _, _, records = read_saved_plan(workdir / f"{stack}.json")
        results[stack] = PlannedStack(process.returncode, stdout, stderr,
                                      planned_from_records(records, unknown_marker=PLAN_UNKNOWN_MARKER))
    return results


@pytest.mark.integration
def test_plan_cli_exits_non_zero_and_names_the_rule(planned):
    dev = planned["dev"]
    assert dev.exit_code == 1, dev.stderr
    assert "MANDATORY backend-timeout-covers-p99" in dev.stdout
    assert "set timeoutSec to at least 800" in dev.stdout
    assert planned["single"].exit_code == 0, planned["single"].stderr
    # Its objectives have priorities and its vLLM schedules by them (schedulingPolicy: priority).
    assert "28 rules, no violations." in planned["single"].stdout


@pytest.mark.integration
@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_have_no_mandatory_violation(planned, stack):
    report = run_pack(planned[stack].resources)
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


@pytest.mark.integration
@pytest.mark.parametrize("case", MUTATIONS, ids=list(MUTATIONS))
def test_mutated_dev_plan_names_the_rule(planned, case):
    mutate, rule = MUTATIONS[case]
    report = run_pack(mutate(planned["dev"].resources))
    assert rule in {v.rule for v in report.mandatory}
    assert not report.passed


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


@pytest.mark.integration
def test_remediation_on_the_real_plan_despite_unknown_inputs(planned):
    from policies.offline import parse_pack_config

    dev = planned["dev"].resources
    cluster = _first(dev, lambda r: r.resource_type == types.CLUSTER)
    broken = _edit(dev, cluster, lambda i: i.pop("podAutoscaling"))
    report = run_pack(broken, parse_pack_config({"gke-hpa-performance-profile": "remediate"}))
    assert [(r.rule, r.resource_name) for r in report.remediations] == [("gke-hpa-performance-profile", cluster.name)]
    assert report.passed
