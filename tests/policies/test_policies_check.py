"""`python -m policies.check PLAN.json`: the pack over a saved `infgw plan --json` file."""

from __future__ import annotations

import json

import pytest
import typer
from planned_stack import POOL, multi_cluster_stack, mutate
from typer.testing import CliRunner

from policies.check import PLAN_UNKNOWN_MARKER, main


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(main)
    return app


def _write_plan(path, resources):
    path.write_text(json.dumps({"project": "p", "stack": "dev", "resources": [
        {"type": r.resource_type, "name": r.name, "urn": r.urn or f"urn:pulumi:dev::p::{r.resource_type}::{r.name}",
         "parent": "", "provider": r.provider_urn or "", "dependencies": [], "inputs": r.inputs}
        for r in resources]}))
    return path


def test_clean_plan_exits_zero(tmp_path):
    result = CliRunner().invoke(_app(), [str(_write_plan(tmp_path / "plan.json", multi_cluster_stack()))])
    assert result.exit_code == 0, result.output
    assert "no violations" in result.output


def test_violating_plan_exits_one_and_names_the_rule(tmp_path):
    stack = mutate(multi_cluster_stack(), f"gke-west-{POOL}-pool", lambda i: i["metadata"].pop("annotations"))
    result = CliRunner().invoke(_app(), [str(_write_plan(tmp_path / "plan.json", stack))])
    assert result.exit_code == 1
    assert "MANDATORY inference-pool-export-annotation" in result.output


def test_unknown_markers_are_not_violations(tmp_path):
    stack = mutate(multi_cluster_stack(), f"gke-west-{POOL}",
                   lambda i: i["spec"]["template"]["spec"]["containers"][0].__setitem__("image", PLAN_UNKNOWN_MARKER))
    result = CliRunner().invoke(_app(), [str(_write_plan(tmp_path / "plan.json", stack))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "does not exist"), ("{", "is not JSON"), ('{"resources": 3}', "has no 'resources' list"),
     ('{"resources": [{"type": "t"}]}', "resources[0] lacks name, urn, inputs")],
    ids=["missing", "not-json", "no-resources", "incomplete-entry"],
)
def test_bad_plan_files_exit_two(tmp_path, content, expected):
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(_app(), [str(path)])
    assert result.exit_code == 2
    assert expected in result.output
