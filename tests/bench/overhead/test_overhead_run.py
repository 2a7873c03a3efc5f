"""A target's overhead row from its measured phases: subtraction, artifacts, errors, sustained rate; and the
report's table, artifact notes and the picker's target against Envoy round-robin."""

from __future__ import annotations

import pytest
from bench.driver.record import RequestRecord
from bench.driver.runner import LoadRun
from bench.overhead.measure import MeasuredTarget, overhead_run
from bench.overhead.phases import phase_stats
from bench.report.overhead_markdown import picker_target_lines, render_overhead
from bench.report.result import OverheadPhase, OverheadRun


def _record(ttft_s: float, stream: bool, index: int = 0, status: int = 200) -> RequestRecord:
    if status != 200:
        return RequestRecord(index=index, priority_class="default", prefix_group="g", sent_at_s=0.0,
                             status=status, error="upstream failed")
    times = [ttft_s, ttft_s + 0.001] if stream else [ttft_s]
    return RequestRecord(index=index, priority_class="default", prefix_group="g", sent_at_s=0.0, status=200,
                         first_token_at_s=ttft_s, finished_at_s=times[-1] + (0.0005 if stream else 0.0),
                         token_times_s=times, output_tokens=len(times))


def _measured(plain_s: float, streamed_s: float, statuses: list[int] | None = None) -> MeasuredTarget:
    phases = []
    for concurrency in (1, 4):
        for stream, ttft in ((False, plain_s), (True, streamed_s)):
            records = [_record(ttft, stream, i) for i in range(11)]
            phases.append((phase_stats(records, stream, concurrency), records))
    throughput = [_record(plain_s, True, i, status) for i, status in enumerate(statuses or [200] * 10)]
    return MeasuredTarget(phases, LoadRun(throughput, 0.0, 1.0, "closed x48"))


def test_every_phase_is_measured_against_the_baselines_same_phase_and_artifacts_named():
    direct = _measured(0.002, 0.002)
    baseline = [phase for phase, _ in direct.phases]
    row = overhead_run("sglang-router", _measured(0.0025, 0.044), baseline, throughput_concurrency=48)
    plain_one = row.phase(False, 1)
    streamed_four = row.phase(True, 4)
    assert plain_one is not None and plain_one.e2e_added_p50_ms == pytest.approx(0.5)
    assert streamed_four is not None and streamed_four.ttft_added_p50_ms == pytest.approx(42.0)
    assert streamed_four.stall_40ms_share == pytest.approx(1.0)
    assert [(a.concurrency, a.where) for a in row.artifacts] == [(1, "before the first token"),
                                                                 (4, "before the first token")]
    assert row.max_sustained_rps == pytest.approx(10.0) and row.concurrency == 48 and row.reason == ""


def test_errors_withhold_the_sustained_rate_and_are_reported():
    baseline = [phase for phase, _ in _measured(0.002, 0.002).phases]
    row = overhead_run("router", _measured(0.003, 0.003, [200] * 9 + [502]), baseline, 48)
    assert row.max_sustained_rps is None
    assert row.reason.startswith("1 errors")


def test_the_baseline_itself_adds_zero():
    direct = _measured(0.002, 0.003)
    row = overhead_run("direct", direct, [phase for phase, _ in direct.phases], 48)
    assert all(p.e2e_added_p50_ms == pytest.approx(0.0) for p in row.phases)
    assert row.artifacts == []


def _run(name: str, plain_added_ms: float) -> OverheadRun:
    return OverheadRun(target=name, status="ok", concurrency=48, max_sustained_rps=500.0, phases=[
        OverheadPhase(stream=False, concurrency=1, ok=100, errors=0, e2e_added_p50_ms=plain_added_ms)])


def test_picker_target_is_its_added_p50_minus_round_robins():
    lines = picker_target_lines([_run("envoy-round-robin", 0.3), _run("picker-recommended", 1.6),
                                 _run("picker-default", 2.1), _run("sglang-router", 0.4)])
    assert lines == [
        "- picker-recommended: +1.30 ms p50 over envoy-round-robin (non-streamed, 1 in flight; target <= 1.5 ms): "
        "**met**",
        "- picker-default: +1.80 ms p50 over envoy-round-robin (non-streamed, 1 in flight; target <= 1.5 ms): "
        "**missed**",
    ]


def test_no_round_robin_row_means_no_target_line():
    assert picker_target_lines([_run("picker-recommended", 1.0)]) == []


def test_the_section_names_artifacts_and_keeps_unavailable_routers_with_their_reason():
    baseline = [phase for phase, _ in _measured(0.002, 0.002).phases]
    runs = [overhead_run("sglang-router", _measured(0.0025, 0.044), baseline, 48),
            OverheadRun(target="smg", status="unavailable", reason="smg is not installed")]
    text = "\n".join(render_overhead(runs))
    assert "| sglang-router | streamed | 1 | 42.0 | 42.0 |" in text
    assert "artifact: +42 ms before the first token" in text
    assert "**sglang-router**, 1 in flight: streamed requests pay 41.5 ms more than non-streamed ones" in text
    assert "| smg | unavailable: smg is not installed |" in text
    assert render_overhead([]) == []


def test_only_a_picker_that_streams_response_bodies_through_itself_processes_chunks():
    from bench.overhead.measure import processes_response_chunks
    from bench.targets import build_targets

    targets = build_targets()
    assert processes_response_chunks(targets["picker-recommended"])
    assert not processes_response_chunks(targets["picker-recommended-lean"])
    assert not processes_response_chunks(targets["envoy-round-robin"])
