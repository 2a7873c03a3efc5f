"""Percentile, goodput and summary math on hand-built records."""

from __future__ import annotations

import pytest
from bench.driver.record import RequestRecord
from bench.stats.percentiles import empirical_cdf, percentile
from bench.stats.slo import Slo
from bench.stats.summary import summarize


@pytest.mark.parametrize(
    ("samples", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 100, 4),
        ([10], 90, 10),
        (list(range(1, 101)), 90, 90.1),
        ([5, 1, 3], 50, 3),
    ],
    ids=["even-median", "min", "max", "single", "p90-of-1..100", "unsorted"],
)
def test_percentile_matches_linear_interpolation(samples, q, expected):
    assert percentile(samples, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none_and_bad_q_is_rejected():
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="within"):
        percentile([1.0], 101)


def test_empirical_cdf():
    xs, ys = empirical_cdf([3, 1, 2, 4])
    assert xs == [1, 2, 3, 4]
    assert ys == [0.25, 0.5, 0.75, 1.0]


def _record(index, ttft, itl, tokens, status=200, error="", cls="default"):
    sent = 100.0
    times = [sent + ttft + i * itl for i in range(tokens)] if status == 200 and not error else []
    return RequestRecord(index=index, priority_class=cls, prefix_group="g", sent_at_s=sent, status=status,
                         error=error, first_token_at_s=times[0] if times else None,
                         finished_at_s=(times[-1] if times else sent) + 0.001, output_tokens=tokens if times else 0,
                         token_times_s=times)


def test_summary_counts_goodput_and_classes():
    slo = Slo(ttft_ms=500, itl_ms=50)
    records = [
        _record(0, ttft=0.1, itl=0.01, tokens=10, cls="critical"),  # good
        _record(1, ttft=0.9, itl=0.01, tokens=10, cls="critical"),  # TTFT misses the SLO
        _record(2, ttft=0.2, itl=0.08, tokens=10),  # ITL misses the SLO
        _record(3, ttft=0.3, itl=0.02, tokens=10),  # good
        _record(4, 0, 0, 0, status=429, error="shed"),
        _record(5, 0, 0, 0, status=503, error="no endpoints"),
    ]
    s = summarize(records, window_s=2.0, slo=slo)
    assert (s.sent, s.ok, s.shed_429, s.errors) == (6, 4, 1, 1)
    assert s.goodput_rps == pytest.approx(2 / 2.0)
    assert s.output_tokens_per_s == pytest.approx(40 / 2.0)
    assert s.request_throughput_rps == pytest.approx(2.0)
    assert s.ttft.p50_ms == pytest.approx(250.0)
    assert s.error_samples == ["503: no endpoints"]
    assert s.by_priority["critical"].ok == 2
    assert s.by_priority["default"].shed_429 == 1 and s.by_priority["default"].errors == 1
    # 36 gaps: 18 of 10 ms, 9 of 20 ms, 9 of 80 ms; the median falls between 10 and 20.
    assert s.itl.p50_ms == pytest.approx(15.0)


def test_record_timing_properties():
    r = _record(0, ttft=0.25, itl=0.05, tokens=5)
    assert r.ttft_s == pytest.approx(0.25)
    assert r.mean_itl_s == pytest.approx(0.05)
    assert len(r.inter_token_gaps_s) == 4
    assert _record(1, ttft=0.1, itl=0, tokens=1).mean_itl_s is None


def test_summary_rejects_an_empty_window():
    with pytest.raises(ValueError, match="window_s"):
        summarize([], window_s=0, slo=Slo())
