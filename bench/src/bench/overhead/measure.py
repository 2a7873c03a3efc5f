"""Runs the overhead phases against every target on a fresh zero-latency fleet each."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.config import OverheadSpec
from bench.driver.load import ClosedLoop
from bench.driver.record import RequestRecord
from bench.driver.runner import LoadDriver, LoadRun
from bench.fleet import running_fleet
from bench.overhead.artifacts import detect_artifacts
from bench.overhead.phases import phase_stats, stall_40ms_share, subtract_baseline
from bench.report.result import OverheadPhase, OverheadRun
from bench.stats.slo import Slo
from bench.stats.summary import summarize
from bench.suite import Progress
from bench.targets.base import Target, TargetUnavailable
from bench.targets.picker_gateway import PickerGateway
from bench.workloads.no_sharing import NoSharing
from bench.workloads.request import RequestSpec
from infgw.envoy import BodyMode
from infgw.launch.child_process import LaunchError

BASELINE = "direct"
# Most requests one phase can take (~1,000 req/s for a few seconds); each phase gets fresh prompts.
PHASE_REQUESTS = 20_000


@dataclasses.dataclass(frozen=True)
class MeasuredTarget:
    """One target's raw phases (added fields unset), with the records the delayed-ACK share needs."""

    phases: list[tuple[OverheadPhase, list[RequestRecord]]]
    throughput: LoadRun


async def measure_overhead(spec: OverheadSpec, targets: Mapping[str, Target], names: Sequence[str], seed: int,
                           work_dir: Path, progress: Progress = lambda message: None) -> list[OverheadRun]:
    """One OverheadRun per target; ``direct`` (client-side round-robin) is the zero-overhead reference,
    measured first. Every target runs the same phases: for each concurrency, non-streamed then streamed."""
    ordered = [BASELINE, *[n for n in names if n != BASELINE]]
    # Requests for the warm-up (two kinds), each latency phase and the throughput phase; none sent twice.
    workload = NoSharing(requests=PHASE_REQUESTS * (2 + 2 * len(spec.latency_concurrencies) + 1),
                         prompt_words=spec.prompt_words, max_tokens=spec.max_tokens)
    requests = workload.generate(seed)
    baseline: list[OverheadPhase] = []
    out: list[OverheadRun] = []
    for name in ordered:
        target = targets[name]
        progress(f"overhead: {name}")
        try:
            target.check_available()
            async with running_fleet(spec.fleet, seed, work_dir / "overhead" / name,
                                     kv_events=target.wants_kv_events) as view, target.serve(view) as base_url:
                measured = await _run_phases(spec, LoadDriver(base_url, seed), requests)
        except TargetUnavailable as err:
            out.append(OverheadRun(target=name, status="unavailable", reason=str(err)))
            continue
        except (LaunchError, OSError) as err:
            out.append(OverheadRun(target=name, status="failed", reason=f"{type(err).__name__}: {err}"[:600]))
            continue
        except Exception as err:
            out.append(OverheadRun(target=name, status="failed",
                                   reason=f"unexpected {type(err).__name__}: {err}"[:600]))
            continue
        if name == BASELINE:
            baseline = [phase for phase, _ in measured.phases]
        out.append(overhead_run(name, measured, baseline, spec.throughput_concurrency,
                                processes_chunks=processes_response_chunks(target)))
    return out


async def _run_phases(spec: OverheadSpec, driver: LoadDriver, requests: Sequence[RequestSpec]) -> MeasuredTarget:
    chunks = iter(range(0, len(requests), PHASE_REQUESTS))

    def fresh(stream: bool, count: int = PHASE_REQUESTS) -> list[RequestSpec]:
        start = next(chunks)
        return [dataclasses.replace(r, stream=stream) for r in requests[start:start + count]]

    # Warm-up (connections, first-request paths), streamed and not, alternating; not recorded.
    both = zip(fresh(True, spec.warmup_requests), fresh(False, spec.warmup_requests), strict=True)
    warmup = [request for pair in both for request in pair]
    await driver.run(warmup, ClosedLoop(concurrency=max(spec.latency_concurrencies), duration_s=30,
                                        drain_timeout_s=10))
    phases = []
    for concurrency in spec.latency_concurrencies:
        for stream in (False, True):
            run = await driver.run(fresh(stream), ClosedLoop(concurrency=concurrency,
                                                             duration_s=spec.latency_duration_s,
                                                             drain_timeout_s=10))
            phases.append((phase_stats(run.records, stream, concurrency), run.records))
    throughput = await driver.run(fresh(True), ClosedLoop(concurrency=spec.throughput_concurrency,
                                                          duration_s=spec.throughput_duration_s,
                                                          drain_timeout_s=10))
    return MeasuredTarget(phases, throughput)


def processes_response_chunks(target: Target) -> bool:
    """Whether every streamed response chunk goes through the picker (ext_proc FULL_DUPLEX_STREAMED)."""
    return isinstance(target, PickerGateway) and target.response_body_mode != BodyMode.NONE


def overhead_run(name: str, measured: MeasuredTarget, baseline: Sequence[OverheadPhase],
                 throughput_concurrency: int, processes_chunks: bool = False) -> OverheadRun:
    """The target's row: each phase minus the baseline's same phase, the artifacts, the sustained rate."""
    phases = []
    for phase, records in measured.phases:
        reference = next((b for b in baseline if b.stream == phase.stream and b.concurrency == phase.concurrency),
                         None)
        if reference is not None:
            phase = subtract_baseline(phase, reference)
            if phase.stream:
                phase.stall_40ms_share = stall_40ms_share(records, reference)
        phases.append(phase)
    throughput = summarize(measured.throughput.records, measured.throughput.window_s, Slo())
    row = OverheadRun(target=name, status="ok", phases=phases, artifacts=detect_artifacts(phases, processes_chunks),
                      concurrency=throughput_concurrency,
                      max_sustained_rps=throughput.request_throughput_rps if throughput.errors == 0 else None)
    errors = throughput.errors + sum(p.errors for p in phases)
    if errors:
        sample = throughput.error_samples[:1] or ["in the latency phases"]
        row.reason = f"{errors} errors, e.g. {sample}"
    return row
