"""Reduces a run's records to the numbers a report shows: latency percentiles, throughput, goodput."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from bench.driver.record import RequestRecord
from bench.stats.percentiles import percentile
from bench.stats.slo import Slo


class LatencyStats(BaseModel):
    """Percentiles in milliseconds; None when there were no samples."""

    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None

    @classmethod
    def of_seconds(cls, samples_s: Sequence[float]) -> LatencyStats:
        ms = [s * 1000.0 for s in samples_s]
        return cls(p50_ms=percentile(ms, 50), p90_ms=percentile(ms, 90), p99_ms=percentile(ms, 99),
                   mean_ms=sum(ms) / len(ms) if ms else None)


class ClassSummary(BaseModel):
    """Counts and TTFT for one priority class."""

    sent: int
    ok: int
    shed_429: int
    errors: int
    ttft: LatencyStats


class RunSummary(BaseModel):
    """One (target, workload, load) run. Rates are per second of the run's window."""

    sent: int
    ok: int
    shed_429: int
    errors: int
    error_samples: list[str]
    window_s: float
    ttft: LatencyStats
    itl: LatencyStats
    e2e: LatencyStats
    request_throughput_rps: float
    output_tokens_per_s: float
    goodput_rps: float
    slo: Slo
    by_priority: dict[str, ClassSummary]


def summarize(records: Sequence[RequestRecord], window_s: float, slo: Slo) -> RunSummary:
    """Summarize ``records`` over ``window_s`` seconds. Errors exclude 429s, which count as shed."""
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok and not r.shed]
    classes: dict[str, list[RequestRecord]] = {}
    for record in records:
        classes.setdefault(record.priority_class, []).append(record)
    return RunSummary(
        sent=len(records),
        ok=len(ok),
        shed_429=sum(r.shed for r in records),
        errors=len(failed),
        error_samples=sorted({f"{r.status}: {r.error}" for r in failed})[:5],
        window_s=window_s,
        ttft=LatencyStats.of_seconds(_present(r.ttft_s for r in ok)),
        itl=LatencyStats.of_seconds([gap for r in ok for gap in r.inter_token_gaps_s]),
        e2e=LatencyStats.of_seconds(_present(r.e2e_s for r in ok)),
        request_throughput_rps=len(ok) / window_s,
        output_tokens_per_s=sum(r.output_tokens for r in ok) / window_s,
        goodput_rps=sum(slo.met_by(r) for r in records) / window_s,
        slo=slo,
        by_priority={
            name: ClassSummary(
                sent=len(members),
                ok=sum(r.ok for r in members),
                shed_429=sum(r.shed for r in members),
                errors=sum(not r.ok and not r.shed for r in members),
                ttft=LatencyStats.of_seconds(_present(r.ttft_s for r in members if r.ok)),
            )
            for name, members in sorted(classes.items())
        },
    )


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]
