"""Naming streamed-only latency: where it sits, whether it is the 40 ms delayed-ACK signature, and
that a streamed path that costs a little more than a plain one is not flagged."""

from __future__ import annotations

import pytest
from bench.overhead.artifacts import (
    CHUNK_PROCESSING_CAUSE,
    HELD_CAUSE,
    NAGLE_CAUSE,
    detect_artifacts,
    streamed_artifact,
)
from bench.report.result import OverheadPhase


def _plain(added_ms: float, concurrency: int = 1) -> OverheadPhase:
    return OverheadPhase(stream=False, concurrency=concurrency, ok=100, errors=0, e2e_added_p50_ms=added_ms,
                         ttft_added_p50_ms=added_ms)


def _streamed(ttft_added: float, gap_added: float, tail_added: float, concurrency: int = 1,
              stall_share: float | None = None) -> OverheadPhase:
    return OverheadPhase(stream=True, concurrency=concurrency, ok=100, errors=0, ttft_added_p50_ms=ttft_added,
                         max_gap_added_p50_ms=gap_added, tail_added_p50_ms=tail_added,
                         e2e_added_p50_ms=ttft_added + gap_added + tail_added, stall_40ms_share=stall_share)


def test_a_router_that_holds_the_first_streamed_bytes_40_ms_shows_the_delayed_ack_signature():
    # sglang-router as measured in issue 14: +0.45 ms non-streamed, +43 ms streamed.
    artifact = streamed_artifact(_streamed(ttft_added=43.0, gap_added=0.1, tail_added=0.0), _plain(0.45))
    assert artifact is not None
    assert artifact.where == "before the first token"
    assert artifact.cause == NAGLE_CAUSE
    assert artifact.excess_ms == pytest.approx(42.65)


def test_a_40_ms_wait_after_the_last_token_is_located_there():
    artifact = streamed_artifact(_streamed(ttft_added=0.5, gap_added=0.0, tail_added=41.0), _plain(0.4))
    assert artifact is not None and artifact.where == "after the last token" and artifact.cause == NAGLE_CAUSE


def test_a_long_hold_outside_the_40_ms_window_is_named_buffering():
    artifact = streamed_artifact(_streamed(ttft_added=1.0, gap_added=120.0, tail_added=0.0), _plain(0.5))
    assert artifact is not None and artifact.where == "between tokens" and artifact.cause == HELD_CAUSE


def test_a_stall_share_over_half_names_delayed_ack_even_when_the_median_excess_is_off_window():
    # Half the requests stall ~40 ms; the p50 of the excess lands anywhere between 0 and 40.
    artifact = streamed_artifact(_streamed(ttft_added=20.0, gap_added=0.0, tail_added=0.0, stall_share=0.6),
                                 _plain(0.5))
    assert artifact is not None and artifact.cause == NAGLE_CAUSE


@pytest.mark.parametrize(
    ("streamed", "plain"),
    [
        (_streamed(ttft_added=2.0, gap_added=0.5, tail_added=0.5), _plain(1.5)),  # response-body processing
        (_streamed(ttft_added=12.0, gap_added=0.5, tail_added=0.5), _plain(8.0)),  # slow either way: routing
        (_streamed(ttft_added=0.2, gap_added=0.1, tail_added=0.0), _plain(0.1)),
    ],
    ids=["picker-like", "slow-router", "envoy-like"],
)
def test_a_streamed_path_that_costs_about_what_a_plain_one_does_is_not_an_artifact(streamed, plain):
    assert streamed_artifact(streamed, plain) is None


def test_artifacts_are_found_per_concurrency_and_only_where_both_kinds_ran():
    phases = [_plain(0.4, 1), _streamed(42.0, 0.0, 0.0, 1), _plain(2.0, 4), _streamed(2.5, 0.1, 0.1, 4),
              _streamed(40.0, 0.0, 0.0, 8)]  # no non-streamed phase at 8: nothing to compare against
    found = detect_artifacts(phases)
    assert [a.concurrency for a in found] == [1]


def test_missing_added_figures_give_no_artifact():
    assert streamed_artifact(OverheadPhase(stream=True, concurrency=1, ok=0, errors=5), _plain(0.4)) is None


def test_a_picker_that_processes_every_chunk_gets_that_named_unless_it_is_the_40_ms_signature():
    processing = streamed_artifact(_streamed(ttft_added=20.0, gap_added=0.0, tail_added=0.0), _plain(3.0),
                                   processes_chunks=True)
    assert processing is not None and processing.cause == CHUNK_PROCESSING_CAUSE
    nagle = streamed_artifact(_streamed(ttft_added=44.0, gap_added=0.0, tail_added=0.0), _plain(3.0),
                              processes_chunks=True)
    assert nagle is not None and nagle.cause == NAGLE_CAUSE
