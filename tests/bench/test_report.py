"""Report rendering: the markdown table, ratios against round-robin, plots, and unavailable targets."""

from __future__ import annotations

import json

from bench.bound import PrefixCacheBound
from bench.driver.record import RequestRecord
from bench.report.markdown import render
from bench.report.plots import write_plots
from bench.report.result import (
    BenchResult,
    OverheadPhase,
    OverheadRun,
    ScenarioResult,
    SweepPoint,
    SweepResult,
    TargetRun,
)
from bench.stats.slo import Slo
from bench.stats.summary import summarize


def _run(target: str, ttft_s: float, hit_rate: float) -> TargetRun:
    records = [RequestRecord(index=i, priority_class="default", prefix_group="g", sent_at_s=0.0, status=200,
                             first_token_at_s=ttft_s * (1 + i / 10), finished_at_s=1.0, output_tokens=10,
                             token_times_s=[ttft_s * (1 + i / 10), 1.0]) for i in range(10)]
    summary = summarize(records, window_s=2.0, slo=Slo(ttft_ms=500, itl_ms=2000))
    return TargetRun(target=target, status="ok", summary=summary, fleet_hit_rate=hit_rate,
                     ttft_samples_ms=[r.ttft_s * 1000 for r in records if r.ttft_s])


def _result() -> BenchResult:
    scenario = ScenarioResult(
        name="shared-prefix-chat", description="test", workload={"kind": "shared-prefix-chat"},
        load={"label": "open 5 req/s"},
        bound=PrefixCacheBound(prompt_tokens=1000, compulsory_hit_tokens=900, capacity_hit_tokens=800,
                               block_size=16, capacity_blocks=4800),
        runs=[_run("envoy-round-robin", 0.4, 0.2), _run("picker-recommended", 0.1, 0.76),
              TargetRun(target="smg", status="unavailable", reason="smg is not installed")])
    return BenchResult(
        command="python -m bench --quick", seed=1, mode="quick", started_at="2026-01-01T00:00:00+00:00",
        duration_s=12.0, machine={"cpus": "2"}, versions={"envoy-round-robin": "1.36"}, fleet={"replicas": 4},
        scenarios=[scenario],
        sweeps=[SweepResult(scenario="shared-prefix-chat", target="picker-recommended", saturation_rps=8,
                            points=[SweepPoint(rate_rps=8, summary=scenario.runs[1].summary, status="ok"),
                                    SweepPoint(rate_rps=16, summary=None, status="failed", reason="x")])],
        overhead=[OverheadRun(target="picker-recommended", status="ok", max_sustained_rps=400, concurrency=48,
                              phases=[OverheadPhase(stream=False, concurrency=1, ok=300, errors=0, e2e_p50_ms=3.0,
                                                    e2e_added_p50_ms=1.5, e2e_added_p99_ms=4.0)])],
    )


def test_markdown_has_ratios_bound_share_and_unavailable_reason():
    text = render(_result())
    assert "`python -m bench --quick`" in text and "seed: 1" in text
    picker_row = next(line for line in text.splitlines() if line.startswith("| picker-recommended |"))
    # p90 TTFT: 0.1 s x 1.81 vs 0.4 s x 1.81 -> 0.25x round-robin; hit 76% of an 80% bound = 95%.
    assert "0.25x" in picker_row and "76.0%" in picker_row and "95.0%" in picker_row
    assert "| smg | unavailable: smg is not installed |" in text
    assert "Analytical bound on prefix-cache hit rate: **80.0%**" in text
    assert "| shared-prefix-chat | picker-recommended | 8 |" in text
    assert "| picker-recommended | non-streamed | 1 | = e2e | = e2e | 1.50 | 4.00 |  | 3.00 | 300 |  |" in text
    assert "picker-recommended 400." in text


def test_result_round_trips_through_json():
    result = _result()
    again = BenchResult.model_validate(json.loads(result.model_dump_json()))
    assert again == result


def test_plots_are_written_as_png(tmp_path):
    paths = write_plots(_result(), tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["prefix-hit-rate.png", "throughput-vs-load.png", "ttft-cdf-shared-prefix-chat.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preemption_line_sums_the_fleet_and_stays_quiet_without_preemptions():
    from bench.report.markdown import preemption_line
    from bench.stats.prefix_cache import ReplicaCacheStats, parse_cache_counters

    counters = parse_cache_counters(
        "vllm:prefix_cache_hits_total 5\nvllm:prefix_cache_queries_total 10\nvllm:num_preemptions_total 3\n"
    )
    assert counters.preemptions == 3
    assert parse_cache_counters("vllm:prefix_cache_hits_total 5\nvllm:prefix_cache_queries_total 10\n").preemptions == 0
    stats = [ReplicaCacheStats(replica=f"r{i}", hits_tokens=0, queries_tokens=1, preemptions=i) for i in range(3)]
    runs = [TargetRun(target="picker", status="ok", cache=stats),
            TargetRun(target="rr", status="ok", cache=stats[:1])]
    scenario = ScenarioResult(name="s", description="", workload={}, load={}, runs=runs)
    assert preemption_line(scenario) == "Model-server preemptions (KV blocks ran out; recomputed later): picker 3, rr 0."
    quiet = ScenarioResult(name="s", description="", workload={}, load={}, runs=runs[1:])
    assert preemption_line(quiet) == ""


def test_scale_out_rows_compare_workers_and_replicas_with_one_picker_of_the_same_profile():
    result = _result()
    scenario = result.scenarios[0]
    scenario.runs += [_run("picker-precise", 0.2, 0.80), _run("picker-precise-2-workers", 0.2, 0.79),
                      _run("picker-precise-2-replicas", 0.3, 0.74)]
    text = render(result)
    assert "## Scale-out: workers and active-active replicas" in text
    assert "| shared-prefix-chat | picker-precise-2-workers | picker-precise | 79.0% | -1.0 |" in text
    assert "| shared-prefix-chat | picker-precise-2-replicas | picker-precise | 74.0% | -6.0 |" in text
    assert "1.50x |" in text  # p90 TTFT 0.3 s against 0.2 s
    # Without a scale-out target there is no section.
    assert "Scale-out" not in render(_result())
