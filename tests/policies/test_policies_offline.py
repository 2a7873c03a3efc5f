"""Offline-runner details: reading a recorded plan, and the terminal report."""

from __future__ import annotations

from planned_stack import POOL, multi_cluster_stack, mutate
from rich.console import Console

from infgw.plan.model import UNKNOWN, PlannedResource
from policies.offline import planned_from_records, run_pack
from policies.report import render_report


def test_recorded_plan_markers_become_unknowns_and_provider_refs_become_urns():
    provider_urn = "urn:pulumi:dev::p::infgw:index:Region$pulumi:providers:kubernetes::west-k8s"
    record = PlannedResource("kubernetes:apps/v1:Deployment", "d", "urn:pulumi:dev::p::kubernetes:apps/v1:Deployment::d",
                             True, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": UNKNOWN}]}}}},
                             provider=f"{provider_urn}::04da6b54-80e4-46f7-96ec-b56ff0331ba9", dependencies=("urn:x",))
    [planned] = planned_from_records([record], unknown_marker=UNKNOWN)
    assert planned.provider_urn == provider_urn
    assert planned.parent_urn is None
    assert planned.dependencies == ("urn:x",)
    image = planned.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    report = run_pack([planned])
    assert report.violations == []
    assert {entry.rule for entry in report.not_applicable} == {"images-pinned"}


def _render(report) -> str:
    console = Console(record=True, width=200, color_system=None)
    render_report(report, console)
    return console.export_text()


def test_report_lists_level_rule_resource_and_message():
    broken = mutate(multi_cluster_stack(), f"gke-west-{POOL}",
                    lambda i: i["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "vllm/vllm-openai"))
    text = _render(run_pack(broken))
    assert "MANDATORY images-pinned" in text
    assert f"resource: kubernetes:apps/v1:Deployment::gke-west-{POOL}" in text
    assert "image vllm/vllm-openai has no tag" in text
    assert "1 mandatory, 0 advisory violation(s); blocked." in text


def test_report_for_a_clean_plan():
    assert "28 rules, no violations." in _render(run_pack(multi_cluster_stack()))
