"""The prefill-backlog estimate and the rule that gives up affinity costing more than the TTFT penalty."""

from __future__ import annotations

import pytest
from picker.plugins.prefill_backlog import PrefillBacklog, PrefillBacklogParameters
from pydantic import ValidationError

NAMES = ["e0", "e1", "e2"]


def backlog(**parameters: float) -> PrefillBacklog:
    # 1,000 tokens/s and 100 ms: an endpoint is late when its estimate exceeds the soonest by 100 tokens.
    parameters.setdefault("peakPrefillThroughput", 1000.0)
    parameters.setdefault("maxTTFTPenaltyMs", 100.0)
    return PrefillBacklog(PrefillBacklogParameters.model_validate(parameters))


@pytest.mark.parametrize(
    ("queued", "scores", "uncached", "expected"),
    [
        # Nothing queued anywhere: the holder answers first, affinity stands.
        ({}, [1.0, 0.0, 0.0], [0, 400, 400], [1.0, 0.0, 0.0]),
        # The holder's queue costs less than recomputing elsewhere plus the penalty: affinity stands.
        ({"e0": 450}, [1.0, 0.0, 0.0], [0, 400, 400], [1.0, 0.0, 0.0]),
        # Its queue is 101 tokens past that: it is late; nobody else scores, so the soonest gets 1.
        ({"e0": 501}, [1.0, 0.0, 0.0], [0, 400, 400], [0.0, 1.0, 1.0]),
        # Late holder, a partial holder within the penalty keeps its score (affinity moves down the list).
        ({"e0": 800}, [1.0, 0.5, 0.0], [0, 200, 400], [0.0, 0.5, 0.0]),
        # Only the soonest of the rest gets the fallback 1.
        ({"e0": 800, "e2": 150}, [1.0, 0.0, 0.0], [0, 400, 400], [0.0, 1.0, 0.0]),
        # A late endpoint that affinity does not point at changes nothing.
        ({"e1": 5000}, [1.0, 0.5, 0.0], [0, 200, 400], [1.0, 0.5, 0.0]),
        # Nothing to give up: no positive score.
        ({"e0": 5000}, [0.0, 0.0, 0.0], [400, 400, 400], [0.0, 0.0, 0.0]),
        # Cold placement (every endpoint scores): the late top loses, the others keep theirs.
        ({"e0": 900}, [0.5, 0.25, 0.4], [400, 400, 400], [0.0, 0.25, 0.4]),
    ],
    ids=[
        "idle",
        "holder-within-penalty",
        "holder-late",
        "late-holder-partial-holder-kept",
        "soonest-only",
        "late-non-top",
        "no-affinity",
        "cold-placement",
    ],
)
def test_affinity_yields_only_when_it_costs_more_than_the_penalty(
    queued: dict[str, int], scores: list[float], uncached: list[int], expected: list[float]
) -> None:
    estimate = backlog()
    for name, tokens in queued.items():
        estimate.add(name, tokens, now_s=10.0)
    assert estimate.yield_affinity(scores, NAMES, uncached, now_s=10.0) == expected


def test_the_queue_drains_at_the_prefill_rate() -> None:
    estimate = backlog()
    estimate.add("e0", 600, now_s=10.0)
    assert estimate.tokens("e0", 10.0) == 600
    assert estimate.tokens("e0", 10.25) == pytest.approx(350)
    estimate.add("e0", 100, now_s=10.25)  # adds to what is left, not to what was routed
    assert estimate.tokens("e0", 10.25) == pytest.approx(450)
    assert estimate.tokens("e0", 11.0) == 0.0  # drained, never negative
    assert estimate.tokens("e1", 11.0) == 0.0
    # 600 tokens queued on e0 at 10.0 make it late; 0.3 s later 300 are left and it is not.
    late = backlog()
    late.add("e0", 600, now_s=10.0)
    assert late.yield_affinity([1.0, 0.0, 0.0], NAMES, [0, 400, 400], now_s=10.0) == [0.0, 1.0, 1.0]
    assert late.yield_affinity([1.0, 0.0, 0.0], NAMES, [0, 400, 400], now_s=10.3) == [1.0, 0.0, 0.0]


def test_departed_endpoints_are_forgotten() -> None:
    estimate = backlog()
    estimate.add("e0", 600, now_s=10.0)
    estimate.prune({"e1"})
    assert estimate.tokens("e0", 10.0) == 0.0


def test_parameters_use_the_affinity_filters_names() -> None:
    parameters = PrefillBacklogParameters.model_validate({"peakPrefillThroughput": 5000, "maxTTFTPenaltyMs": 20})
    assert (parameters.peak_prefill_throughput, parameters.max_ttft_penalty_ms) == (5000, 20)
    with pytest.raises(ValidationError, match="peakPrefillThroughput"):
        PrefillBacklogParameters.model_validate({"peakPrefillThroughput": 0})
    with pytest.raises(ValidationError, match="maxTtftPenalty"):
        PrefillBacklogParameters.model_validate({"maxTtftPenaltyMs": 20})
