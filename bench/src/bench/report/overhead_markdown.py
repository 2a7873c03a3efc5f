"""The overhead part of the report: added latency per router, streamed and not, the artifacts it names,
the sustained rate, and the picker's target against Envoy round-robin."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report.result import OverheadPhase, OverheadRun

ROUND_ROBIN = "envoy-round-robin"
# The target: non-streamed, one in flight, the picker adds at most this p50 over round-robin.
PICKER_TARGET_MS = 1.5


def _added_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _phase_row(run: OverheadRun, phase: OverheadPhase) -> str:
    artifact = next((a for a in run.artifacts if phase.stream and a.concurrency == phase.concurrency), None)
    note = f"artifact: +{artifact.excess_ms:.0f} ms {artifact.where}" if artifact else ""
    if phase.errors:
        note = (note + "; " if note else "") + f"{phase.errors} errors"
    ttft = (f"{_added_ms(phase.ttft_added_p50_ms)} | {_added_ms(phase.ttft_added_p99_ms)}" if phase.stream
            else "= e2e | = e2e")
    gap = _added_ms(phase.max_gap_added_p50_ms) if phase.stream else ""
    return (f"| {run.target} | {'streamed' if phase.stream else 'non-streamed'} | {phase.concurrency} "
            f"| {ttft} | {_added_ms(phase.e2e_added_p50_ms)} | {_added_ms(phase.e2e_added_p99_ms)} | {gap} "
            f"| {_added_ms(phase.e2e_p50_ms)} | {phase.ok} | {note} |")


def latency_table(runs: Sequence[OverheadRun]) -> str:
    lines = ["| target | requests | in flight | TTFT added p50 ms | TTFT added p99 ms | e2e added p50 ms "
             "| e2e added p99 ms | longest gap added p50 ms | e2e p50 ms | ok | note |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for run in runs:
        if run.status != "ok":
            lines.append(f"| {run.target} | {run.status}: {run.reason} |" + " |" * 9)
            continue
        for phase in sorted(run.phases, key=lambda p: (p.stream, p.concurrency)):
            lines.append(_phase_row(run, phase))
    return "\n".join(lines)


def artifact_lines(runs: Sequence[OverheadRun]) -> list[str]:
    out = []
    for run in runs:
        for a in run.artifacts:
            out.append(f"- **{run.target}**, {a.concurrency} in flight: streamed requests pay {a.excess_ms:.1f} ms "
                       f"more than non-streamed ones, {a.where}; cause: {a.cause}. Its routing cost is the "
                       f"non-streamed row.")
    return out


def picker_target_lines(runs: Sequence[OverheadRun]) -> list[str]:
    """Each picker target's non-streamed, one-in-flight e2e-added p50 minus Envoy round-robin's."""
    by_name = {run.target: run for run in runs if run.status == "ok"}
    rr = by_name.get(ROUND_ROBIN)
    rr_phase = rr.phase(False, 1) if rr else None
    if rr_phase is None or rr_phase.e2e_added_p50_ms is None:
        return []
    out = []
    for run in by_name.values():
        phase = run.phase(False, 1)
        if not run.target.startswith("picker") or phase is None or phase.e2e_added_p50_ms is None:
            continue
        over = phase.e2e_added_p50_ms - rr_phase.e2e_added_p50_ms
        verdict = "met" if over <= PICKER_TARGET_MS else "missed"
        out.append(f"- {run.target}: +{over:.2f} ms p50 over {ROUND_ROBIN} (non-streamed, 1 in flight; "
                   f"target <= {PICKER_TARGET_MS} ms): **{verdict}**")
    return out


def render_overhead(runs: Sequence[OverheadRun]) -> list[str]:
    """The section's lines; empty when the run measured no overhead."""
    if not runs:
        return []
    out = ["## Routing overhead (zero-latency replicas)", "",
           "Added = the router's percentile minus the same percentile with no router (`direct`: the client "
           "rotates over the replicas), same phase. Non-streamed answers arrive whole, so their TTFT is "
           "their e2e. Longest gap: per request, the longest wait between two streamed chunks.", "",
           latency_table(runs), ""]
    artifacts = artifact_lines(runs)
    if artifacts:
        out += ["Streaming artifacts (named, not counted as routing cost):", "", *artifacts, ""]
    targets = picker_target_lines(runs)
    if targets:
        out += ["Picker vs Envoy round-robin:", "", *targets, ""]
    measured = [run for run in runs if run.status == "ok"]
    if measured:
        out += [f"Max sustained req/s ({measured[0].concurrency} in flight, streamed): "
                + ", ".join(f"{run.target} {run.max_sustained_rps:,.0f}" if run.max_sustained_rps is not None
                            else f"{run.target} n/a (errors)" for run in measured) + ".", ""]
    return out
