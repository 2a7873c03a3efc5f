"""Renders a BenchResult as the markdown tables docs/benchmarks.md links (ratios against round-robin)."""

from __future__ import annotations

from bench.report.overhead_markdown import render_overhead
from bench.report.result import BenchResult, ScenarioResult, TargetRun
from bench.stats.placement import mean_replicas_per_shared_group

BASELINE_TARGET = "envoy-round-robin"
MIN_MEANINGFUL_BOUND = 0.05


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base <= 0:
        return "n/a"
    return f"{value / base:.2f}x"


def scenario_table(scenario: ScenarioResult) -> str:
    baseline = next((r for r in scenario.runs if r.target == BASELINE_TARGET and r.summary), None)
    base_p90 = baseline.summary.ttft.p90_ms if baseline and baseline.summary else None
    bound = scenario.bound.hit_rate if scenario.bound else None
    lines = [
        "| target | TTFT p50 ms | TTFT p90 ms | TTFT p99 ms | p90 vs RR | ITL p50 ms | e2e p90 ms "
        "| out tok/s | goodput req/s | prefix hit | of bound | ok | 429 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in scenario.runs:
        lines.append(_row(run, base_p90, bound))
    if scenario.bound:
        lines.append("")
        lines.append(
            f"Analytical bound on prefix-cache hit rate: **{_pct(scenario.bound.hit_rate)}** with the fleet's "
            f"{scenario.bound.capacity_blocks:,} blocks of {scenario.bound.block_size} tokens "
            f"({_pct(scenario.bound.compulsory_hit_rate)} with unlimited KV)."
        )
    elif scenario.bound_note:
        lines.append("")
        lines.append(f"Analytical bound: {scenario.bound_note}")
    return "\n".join(lines)


def placement_line(scenario: ScenarioResult) -> str:
    """Mean replicas per shared prefix group, per target; empty when nothing repeats (or older results)."""
    parts = []
    for run in scenario.runs:
        mean = mean_replicas_per_shared_group(run.replicas_per_group)
        if mean is not None:
            parts.append(f"{run.target} {mean:.2f}")
    if not parts:
        return ""
    return ("Replicas serving each prefix group (mean over groups with 2+ requests; 1 = never split): "
            + ", ".join(parts) + ".")


def picker_restart_table(scenario: ScenarioResult) -> str:
    """Hit rate in the window before and after each target's picker restart; empty without restarts."""
    restarted = [run for run in scenario.runs if run.picker_restart is not None]
    if not restarted:
        return ""
    window = restarted[0].picker_restart.window_s if restarted[0].picker_restart else 0.0
    lines = [f"Picker restarted mid-run: fleet prefix-cache hit rate in the {window:g} s before the restart "
             f"and the {window:g} s after the new picker routed again.", "",
             "| target | restarted at s | back after s | hit before | hit after | drop (points) "
             "| failed while down |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for run in restarted:
        r = run.picker_restart
        assert r is not None
        drop = "n/a" if r.drop_points is None else f"{r.drop_points:.1f}"
        lines.append(f"| {run.target} | {r.at_s:.1f} | {r.recovery_s:.1f} | {_pct(r.hit_rate_before)} "
                     f"| {_pct(r.hit_rate_after)} | {drop} | {r.failed_while_down} |")
    return "\n".join(lines)


def preemption_line(scenario: ScenarioResult) -> str:
    """Model-server preemptions (vllm:num_preemptions_total over the fleet) per target; empty when none."""
    counts = {run.target: sum(stats.preemptions for stats in run.cache) for run in scenario.runs if run.cache}
    if not any(counts.values()):
        return ""
    return ("Model-server preemptions (KV blocks ran out; recomputed later): "
            + ", ".join(f"{target} {count:,.0f}" for target, count in counts.items()) + ".")


def _row(run: TargetRun, base_p90: float | None, bound: float | None) -> str:
    if run.summary is None:
        return f"| {run.target} | {run.status}: {run.reason} |" + " |" * 13
    s = run.summary
    bound = run.bound_hit_rate if run.bound_hit_rate is not None else bound
    # Against a bound near zero (no sharing to exploit) the share is noise, not information.
    meaningful = bound is not None and bound >= MIN_MEANINGFUL_BOUND
    of_bound = _pct(run.fleet_hit_rate / bound) if run.fleet_hit_rate is not None and meaningful else "n/a"
    return (
        f"| {run.target} | {_ms(s.ttft.p50_ms)} | {_ms(s.ttft.p90_ms)} | {_ms(s.ttft.p99_ms)} "
        f"| {_ratio(s.ttft.p90_ms, base_p90)} | {_ms(s.itl.p50_ms)} | {_ms(s.e2e.p90_ms)} "
        f"| {s.output_tokens_per_s:,.0f} | {s.goodput_rps:.2f} | {_pct(run.fleet_hit_rate)} | {of_bound} "
        f"| {s.ok}/{s.sent} | {s.shed_429} | {s.errors} |"
    )


def priority_table(scenario: ScenarioResult) -> str | None:
    """Per-class rows, shown only when the workload has more than one priority class."""
    classes = sorted({name for run in scenario.runs if run.summary for name in run.summary.by_priority})
    if len(classes) < 2:
        return None
    lines = ["| target | class | sent | ok | 429 | errors | TTFT p50 ms | TTFT p90 ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for run in scenario.runs:
        if run.summary is None:
            continue
        for name in classes:
            c = run.summary.by_priority.get(name)
            if c is None:
                continue
            lines.append(f"| {run.target} | {name} | {c.sent} | {c.ok} | {c.shed_429} | {c.errors} "
                         f"| {_ms(c.ttft.p50_ms)} | {_ms(c.ttft.p90_ms)} |")
    return "\n".join(lines)


# Scale-out targets and the one-process picker each is compared with (same profile).
SCALE_OUT_BASES = {
    "picker-precise-2-workers": "picker-precise",
    "picker-precise-2-replicas": "picker-precise",
    "picker-recommended-2-replicas": "picker-recommended",
}


def scale_out_table(result: BenchResult) -> str | None:
    """Workers and active-active replicas against one picker process, per scenario: what scale-out costs
    in cache affinity (hit-rate points) and TTFT. None when no scale-out target ran."""
    lines = ["| scenario | target | vs | prefix hit | hit points vs one | TTFT p90 ms | p90 vs one |",
             "|---|---|---|---:|---:|---:|---:|"]
    for scenario in result.scenarios:
        runs = {run.target: run for run in scenario.runs if run.summary is not None}
        for target, base_name in SCALE_OUT_BASES.items():
            run, base = runs.get(target), runs.get(base_name)
            if run is None or base is None or run.summary is None or base.summary is None:
                continue
            points = (
                "n/a" if run.fleet_hit_rate is None or base.fleet_hit_rate is None
                else f"{100 * (run.fleet_hit_rate - base.fleet_hit_rate):+.1f}")
            lines.append(
                f"| {scenario.name} | {target} | {base_name} | {_pct(run.fleet_hit_rate)} | {points} "
                f"| {_ms(run.summary.ttft.p90_ms)} | {_ratio(run.summary.ttft.p90_ms, base.summary.ttft.p90_ms)} |")
    return "\n".join(lines) if len(lines) > 2 else None


def render(result: BenchResult) -> str:
    """The whole report: provenance, one section per scenario, sweeps, overhead."""
    out = [
        "# Benchmark results",
        "",
        f"- command: `{result.command}`",
        f"- mode: {result.mode}, seed: {result.seed}, started: {result.started_at}, "
        f"took {result.duration_s:.0f} s",
        f"- machine: {', '.join(f'{k}={v}' for k, v in result.machine.items())}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in sorted(result.versions.items()))}",
        f"- fleet: {', '.join(f'{k}={v}' for k, v in result.fleet.items())}",
        "",
    ]
    for note in result.notes:
        out.append(f"> {note}")
    if result.notes:
        out.append("")
    for scenario in result.scenarios:
        out += [f"## {scenario.name}", "", scenario.description, "",
                f"Load: {scenario.load.get('label', scenario.load)}; SLO for goodput: "
                f"{_slo_text(scenario)}", "", scenario_table(scenario), ""]
        for line in (placement_line(scenario), preemption_line(scenario), picker_restart_table(scenario)):
            if line:
                out += [line, ""]
        per_class = priority_table(scenario)
        if per_class:
            out += ["Per priority class:", "", per_class, ""]
    scale_out = scale_out_table(result)
    if scale_out:
        out += ["## Scale-out: workers and active-active replicas", "",
                "Each against the one-process picker of the same profile in the same run (hit points: "
                "fleet prefix-cache hit rate difference).", "", scale_out, ""]
    if result.sweeps:
        out += ["## Saturation sweep", "",
                "| scenario | target | saturation req/s | " + "points (rate: goodput) |", "|---|---|---:|---|"]
        for sweep in result.sweeps:
            points = ", ".join(
                f"{p.rate_rps:g}: {p.summary.goodput_rps:.2f}" if p.summary else f"{p.rate_rps:g}: {p.status}"
                for p in sweep.points)
            sat = "n/a" if sweep.saturation_rps is None else f"{sweep.saturation_rps:g}"
            out.append(f"| {sweep.scenario} | {sweep.target} | {sat} | {points} |")
        out.append("")
    out += render_overhead(result.overhead)
    return "\n".join(out).rstrip() + "\n"


def _slo_text(scenario: ScenarioResult) -> str:
    for run in scenario.runs:
        if run.summary:
            return f"TTFT <= {run.summary.slo.ttft_ms:g} ms, mean ITL <= {run.summary.slo.itl_ms:g} ms"
    return "n/a"
