"""The pure decision behind sweeps: is a rate sustained?"""

from __future__ import annotations

import pytest
from bench.driver.record import RequestRecord
from bench.stats.slo import Slo
from bench.stats.summary import summarize
from bench.suite import sustained


def _records(ttfts_s: list[float], statuses: list[int] | None = None) -> list[RequestRecord]:
    statuses = statuses or [200] * len(ttfts_s)
    out = []
    for i, (ttft, status) in enumerate(zip(ttfts_s, statuses, strict=True)):
        ok = status == 200
        out.append(RequestRecord(index=i, priority_class="default", prefix_group="g", sent_at_s=0.0, status=status,
                                 error="" if ok else "boom", first_token_at_s=ttft if ok else None,
                                 finished_at_s=ttft + 0.01, output_tokens=2 if ok else 0,
                                 token_times_s=[ttft, ttft + 0.01] if ok else []))
    return out


@pytest.mark.parametrize(
    ("ttfts", "statuses", "expected"),
    [
        ([0.1] * 10, None, True),
        ([0.1] * 9 + [2.0], None, True),  # exactly 90% within the SLO
        ([0.1] * 8 + [2.0] * 2, None, False),
        ([0.1] * 10, [200] * 9 + [503], False),  # any error disqualifies
    ],
    ids=["all-good", "ninety-percent", "eighty-percent", "one-error"],
)
def test_sustained_needs_ninety_percent_good_and_no_errors(ttfts, statuses, expected):
    summary = summarize(_records(ttfts, statuses), window_s=5.0, slo=Slo(ttft_ms=500, itl_ms=100))
    assert sustained(summary) is expected
