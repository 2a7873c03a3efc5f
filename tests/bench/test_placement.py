"""Placement stats: which replicas served each prefix group, and the split summary the report prints."""

from __future__ import annotations

from bench.driver.record import RequestRecord
from bench.report.markdown import placement_line
from bench.report.result import ScenarioResult, TargetRun
from bench.stats.placement import mean_replicas_per_shared_group, replicas_per_group


def _record(index: int, group: str, replica: str, status: int = 200) -> RequestRecord:
    return RequestRecord(index=index, priority_class="default", prefix_group=group, sent_at_s=0.0,
                         status=status, first_token_at_s=0.1, finished_at_s=0.2, output_tokens=1,
                         served_by=replica)


def test_replicas_per_group_counts_successful_requests_only():
    records = [_record(0, "g1", "replica-0"), _record(1, "g1", "replica-0"), _record(2, "g1", "replica-2"),
               _record(3, "g2", "replica-1"), _record(4, "g2", "replica-3", status=429)]
    assert replicas_per_group(records) == {"g1": {"replica-0": 2, "replica-2": 1}, "g2": {"replica-1": 1}}


def test_mean_replicas_ignores_groups_seen_once():
    spread = {"g1": {"replica-0": 5}, "g2": {"replica-1": 2, "replica-2": 2}, "unique-7": {"replica-3": 1}}
    assert mean_replicas_per_shared_group(spread) == 1.5
    assert mean_replicas_per_shared_group({"unique-1": {"replica-0": 1}}) is None


def test_report_line_names_each_target_and_is_absent_without_shared_groups():
    packed = TargetRun(target="picker-recommended", status="ok",
                       replicas_per_group={"g1": {"replica-0": 3}, "g2": {"replica-1": 2}})
    sprayed = TargetRun(target="envoy-round-robin", status="ok",
                        replicas_per_group={"g1": {"replica-0": 1, "replica-1": 1, "replica-2": 1},
                                            "g2": {"replica-0": 1, "replica-3": 1}})
    scenario = ScenarioResult(name="s", description="", workload={}, load={}, runs=[sprayed, packed])
    line = placement_line(scenario)
    assert "envoy-round-robin 2.50" in line and "picker-recommended 1.00" in line
    unshared = TargetRun(target="x", status="ok", replicas_per_group={"unique-1": {"replica-0": 1}})
    assert placement_line(ScenarioResult(name="s", description="", workload={}, load={}, runs=[unshared])) == ""

