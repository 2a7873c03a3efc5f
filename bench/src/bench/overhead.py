"""Overhead mode: zero-latency replicas, so whatever latency and throughput limit remains is the router's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.config import OverheadSpec
from bench.driver.load import ClosedLoop
from bench.driver.runner import LoadDriver, LoadRun
from bench.fleet import running_fleet
from bench.report.result import OverheadRun
from bench.stats.slo import Slo
from bench.stats.summary import RunSummary, summarize
from bench.suite import Progress
from bench.targets.base import Target, TargetUnavailable
from bench.targets.process import ProcessFailed
from bench.workloads.no_sharing import NoSharing

BASELINE = "direct"


async def measure_overhead(spec: OverheadSpec, targets: Mapping[str, Target], names: Sequence[str], seed: int,
                           work_dir: Path, progress: Progress = lambda message: None) -> list[OverheadRun]:
    """One OverheadRun per target; ``direct`` (client-side round-robin) is the zero-overhead reference."""
    ordered = [BASELINE, *[n for n in names if n != BASELINE]]
    workload = NoSharing(requests=200_000, prompt_words=spec.prompt_words, max_tokens=spec.max_tokens)
    requests = workload.generate(seed)
    measured: dict[str, tuple[RunSummary, RunSummary]] = {}
    out: list[OverheadRun] = []
    for name in ordered:
        target = targets[name]
        progress(f"overhead: {name}")
        try:
            target.check_available()
            async with running_fleet(spec.fleet, seed, work_dir / "overhead" / name, kv_events=target.wants_kv_events) as view, \
                    target.serve(view) as base_url:
                driver = LoadDriver(base_url, seed)
                latency = await driver.run(requests, ClosedLoop(concurrency=spec.latency_concurrency,
                                                                duration_s=spec.latency_duration_s,
                                                                drain_timeout_s=10))
                # Later requests than the latency phase used, so no prompt repeats.
                rest = requests[len(latency.records):]
                throughput = await driver.run(rest, ClosedLoop(concurrency=spec.throughput_concurrency,
                                                               duration_s=spec.throughput_duration_s,
                                                               drain_timeout_s=10))
        except TargetUnavailable as err:
            out.append(OverheadRun(target=name, status="unavailable", reason=str(err)))
            continue
        except (ProcessFailed, OSError) as err:
            out.append(OverheadRun(target=name, status="failed", reason=f"{type(err).__name__}: {err}"[:600]))
            continue
        except Exception as err:
            out.append(OverheadRun(target=name, status="failed",
                                   reason=f"unexpected {type(err).__name__}: {err}"[:600]))
            continue
        measured[name] = (_summary(latency), _summary(throughput))
        out.append(overhead_row(name, measured, spec.throughput_concurrency))
    return out


def _summary(run: LoadRun) -> RunSummary:
    return summarize(run.records, run.window_s, Slo())


def overhead_row(name: str, measured: Mapping[str, tuple[RunSummary, RunSummary]],
                  concurrency: int) -> OverheadRun:
    latency, throughput = measured[name]
    base = measured.get(BASELINE)

    def added(value: float | None, reference: float | None) -> float | None:
        return None if value is None or reference is None else value - reference

    row = OverheadRun(
        target=name, status="ok", concurrency=concurrency,
        e2e_p50_ms=latency.e2e.p50_ms, e2e_p99_ms=latency.e2e.p99_ms,
        max_sustained_rps=throughput.request_throughput_rps if throughput.errors == 0 else None,
    )
    if base is not None:
        row.latency_added_p50_ms = added(latency.e2e.p50_ms, base[0].e2e.p50_ms)
        row.latency_added_p99_ms = added(latency.e2e.p99_ms, base[0].e2e.p99_ms)
    if throughput.errors:
        row.reason = f"{throughput.errors} errors at full load, e.g. {throughput.error_samples[:1]}"
    return row
