"""One overhead phase's numbers from records, the baseline subtraction and the delayed-ACK share."""

from __future__ import annotations

import pytest
from bench.driver.record import RequestRecord
from bench.overhead.phases import max_gap_s, phase_stats, stall_40ms_share, subtract_baseline, tail_s


def _streamed(ttft_s: float, gaps_s: tuple[float, ...] = (0.001, 0.001), tail: float = 0.001,
              index: int = 0) -> RequestRecord:
    times = [ttft_s]
    for gap in gaps_s:
        times.append(times[-1] + gap)
    return RequestRecord(index=index, priority_class="default", prefix_group="g", sent_at_s=0.0, status=200,
                         first_token_at_s=ttft_s, finished_at_s=times[-1] + tail, token_times_s=times,
                         output_tokens=len(times))


def _plain(e2e_s: float, index: int = 0) -> RequestRecord:
    return RequestRecord(index=index, priority_class="default", prefix_group="g", sent_at_s=0.0, status=200,
                         first_token_at_s=e2e_s, finished_at_s=e2e_s, token_times_s=[e2e_s], output_tokens=8)


def test_gap_and_tail_of_one_streamed_request():
    record = _streamed(0.010, gaps_s=(0.002, 0.041, 0.001), tail=0.003)
    assert max_gap_s(record) == pytest.approx(0.041)
    assert tail_s(record) == pytest.approx(0.003)
    assert max_gap_s(_plain(0.01)) is None  # one "chunk": no gap


def test_phase_stats_reads_percentiles_in_ms_and_counts_errors():
    records = [_streamed(0.001 * (i + 1), index=i) for i in range(11)]
    records.append(RequestRecord(index=11, priority_class="default", prefix_group="g", sent_at_s=0.0,
                                 status=502, error="bad gateway"))
    phase = phase_stats(records, stream=True, concurrency=4)
    assert (phase.ok, phase.errors, phase.concurrency, phase.stream) == (11, 1, 4, True)
    assert phase.ttft_p50_ms == pytest.approx(6.0)
    assert phase.e2e_p50_ms == pytest.approx(9.0)  # TTFT + two 1 ms gaps + 1 ms tail
    assert phase.max_gap_p50_ms == pytest.approx(1.0) and phase.tail_p50_ms == pytest.approx(1.0)


def test_a_non_streamed_phase_has_no_gap_or_tail_and_its_ttft_is_its_e2e():
    phase = phase_stats([_plain(0.004, i) for i in range(5)], stream=False, concurrency=1)
    assert phase.ttft_p50_ms == phase.e2e_p50_ms == pytest.approx(4.0)
    assert phase.max_gap_p50_ms is None and phase.tail_p50_ms is None


def test_added_is_the_percentile_minus_the_baselines_same_percentile():
    base = phase_stats([_streamed(0.002, index=i) for i in range(11)], stream=True, concurrency=1)
    routed = phase_stats([_streamed(0.005, gaps_s=(0.001, 0.004), index=i) for i in range(11)],
                         stream=True, concurrency=1)
    added = subtract_baseline(routed, base)
    assert added.ttft_added_p50_ms == pytest.approx(3.0) and added.ttft_added_p99_ms == pytest.approx(3.0)
    assert added.e2e_added_p50_ms == pytest.approx(6.0)  # 3 ms later first token, one gap 3 ms longer
    assert added.max_gap_added_p50_ms == pytest.approx(3.0)
    assert added.tail_added_p50_ms == pytest.approx(0.0)
    assert routed.ttft_added_p50_ms is None  # the input phase is left as it was


def test_stall_share_counts_requests_with_a_wait_30_to_50_ms_over_the_baseline():
    base = phase_stats([_streamed(0.002, index=i) for i in range(10)], stream=True, concurrency=1)
    records = ([_streamed(0.044, index=i) for i in range(3)]  # first token held ~42 ms
               + [_streamed(0.002, gaps_s=(0.040, 0.001), index=3)]  # one gap held ~39 ms
               + [_streamed(0.002, tail=0.045, index=4)]  # the [DONE] held ~44 ms
               + [_streamed(0.003, index=i) for i in range(5, 9)]
               + [_streamed(0.150, index=9)])  # a 148 ms stall is not the 40 ms signature
    assert stall_40ms_share(records, base) == pytest.approx(0.5)
