"""One overhead phase's numbers from its request records, and what a router adds over the baseline's."""

from __future__ import annotations

from collections.abc import Sequence

from bench.driver.record import RequestRecord
from bench.report.result import OverheadPhase
from bench.stats.percentiles import percentile

# A Linux delayed ACK holds an ACK for at least 40 ms; a sender with Nagle on waits for it before it
# sends a second small segment. Waits this much longer than the baseline's carry that signature.
DELAYED_ACK_WINDOW_MS = (30.0, 50.0)


def _ms(values: Sequence[float], q: float) -> float | None:
    return percentile([v * 1000.0 for v in values], q)


def max_gap_s(record: RequestRecord) -> float | None:
    """The longest wait between two consecutive content chunks; None with fewer than two."""
    gaps = record.inter_token_gaps_s
    return max(gaps) if gaps else None


def tail_s(record: RequestRecord) -> float | None:
    """From the last content chunk to the end of the response (the usage chunk and ``[DONE]``)."""
    if not record.token_times_s or record.finished_at_s is None:
        return None
    return record.finished_at_s - record.token_times_s[-1]


def phase_stats(records: Sequence[RequestRecord], stream: bool, concurrency: int) -> OverheadPhase:
    """Percentiles of one phase; the ``*_added`` fields stay empty until ``subtract_baseline``."""
    ok = [r for r in records if r.ok]
    ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
    e2e = [r.e2e_s for r in ok if r.e2e_s is not None]
    phase = OverheadPhase(stream=stream, concurrency=concurrency, ok=len(ok),
                          errors=sum(1 for r in records if not r.ok),
                          ttft_p50_ms=_ms(ttft, 50), ttft_p99_ms=_ms(ttft, 99),
                          e2e_p50_ms=_ms(e2e, 50), e2e_p99_ms=_ms(e2e, 99))
    if stream:
        phase.max_gap_p50_ms = _ms([g for r in ok if (g := max_gap_s(r)) is not None], 50)
        phase.tail_p50_ms = _ms([t for r in ok if (t := tail_s(r)) is not None], 50)
    return phase


def stall_40ms_share(records: Sequence[RequestRecord], baseline: OverheadPhase) -> float | None:
    """Share of streamed requests with a wait (TTFT, longest gap or tail) 30-50 ms above the baseline's
    median for that wait: how often the delayed-ACK signature shows, request by request."""
    ok = [r for r in records if r.ok and r.ttft_s is not None]
    if not ok or baseline.ttft_p50_ms is None:
        return None
    low, high = DELAYED_ACK_WINDOW_MS

    def excess_ms(value_s: float | None, base_ms: float | None) -> float:
        return -1.0 if value_s is None or base_ms is None else value_s * 1000.0 - base_ms

    stalled = 0
    for record in ok:
        waits = (excess_ms(record.ttft_s, baseline.ttft_p50_ms),
                 excess_ms(max_gap_s(record), baseline.max_gap_p50_ms),
                 excess_ms(tail_s(record), baseline.tail_p50_ms))
        stalled += any(low <= wait <= high for wait in waits)
    return stalled / len(ok)


def subtract_baseline(phase: OverheadPhase, baseline: OverheadPhase) -> OverheadPhase:
    """The phase with every ``*_added`` field set: its percentile minus the baseline's same percentile."""

    def minus(value: float | None, reference: float | None) -> float | None:
        return None if value is None or reference is None else value - reference

    return phase.model_copy(update={
        "ttft_added_p50_ms": minus(phase.ttft_p50_ms, baseline.ttft_p50_ms),
        "ttft_added_p99_ms": minus(phase.ttft_p99_ms, baseline.ttft_p99_ms),
        "e2e_added_p50_ms": minus(phase.e2e_p50_ms, baseline.e2e_p50_ms),
        "e2e_added_p99_ms": minus(phase.e2e_p99_ms, baseline.e2e_p99_ms),
        "max_gap_added_p50_ms": minus(phase.max_gap_p50_ms, baseline.max_gap_p50_ms),
        "tail_added_p50_ms": minus(phase.tail_p50_ms, baseline.tail_p50_ms),
    })
