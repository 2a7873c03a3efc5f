"""Siblings' in-flight reports summed into a decider's tracker: absolute counts, snapshots that replace,
reordered reports ignored, and silent siblings expiring (times injected)."""

from __future__ import annotations

from picker.framework.in_flight import InFlightTracker
from picker.placements.sibling_in_flight import SiblingInFlight
from picker.placements.wire import InFlightReport

A, B = b"sibling-a", b"sibling-b"
TTL_S = 2.0


def tracked() -> tuple[InFlightTracker, SiblingInFlight]:
    tracker = InFlightTracker()
    return tracker, SiblingInFlight(tracker, TTL_S)


def test_siblings_counts_add_to_the_deciders_own() -> None:
    tracker, siblings = tracked()
    tracker.increment("vllm-0")
    siblings.apply(A, 1, InFlightReport(False, {"vllm-0": 2, "vllm-1": 1}), 0.0)
    siblings.apply(B, 1, InFlightReport(False, {"vllm-0": 3}), 0.0)
    assert tracker.counts() == {"vllm-0": 6, "vllm-1": 1}
    assert tracker.own_counts() == {"vllm-0": 1}
    tracker.decrement("vllm-0")
    assert tracker.view()["vllm-0"] == 5


def test_counts_are_absolute_so_a_lost_report_costs_nothing_once_the_next_arrives() -> None:
    tracker, siblings = tracked()
    siblings.apply(A, 1, InFlightReport(False, {"vllm-0": 1}), 0.0)
    # Reports 2 and 3 (2 then 3 in flight) were lost; report 4 says 1 again.
    siblings.apply(A, 4, InFlightReport(False, {"vllm-0": 1}), 0.1)
    assert tracker.count("vllm-0") == 1


def test_a_snapshot_replaces_what_the_sibling_reported_before() -> None:
    tracker, siblings = tracked()
    siblings.apply(A, 1, InFlightReport(False, {"vllm-0": 2, "vllm-1": 1}), 0.0)
    # The report that vllm-1's request finished was lost; the snapshot does not name vllm-1: none there.
    siblings.apply(A, 3, InFlightReport(True, {"vllm-0": 2}), 0.5)
    assert tracker.counts() == {"vllm-0": 2}


def test_a_report_older_than_the_last_applied_is_ignored() -> None:
    tracker, siblings = tracked()
    assert siblings.apply(A, 5, InFlightReport(False, {"vllm-0": 0}), 0.0)
    assert not siblings.apply(A, 4, InFlightReport(False, {"vllm-0": 7}), 0.0)  # reordered on the way
    assert tracker.count("vllm-0") == 0


def test_a_silent_siblings_counts_expire_a_live_ones_stay() -> None:
    tracker, siblings = tracked()
    siblings.apply(A, 1, InFlightReport(True, {"vllm-0": 2}), 0.0)
    siblings.apply(B, 1, InFlightReport(True, {"vllm-0": 1}), 0.0)
    assert siblings.expire(TTL_S) == 0  # not silent for more than the TTL yet
    siblings.apply(B, 2, InFlightReport(True, {"vllm-0": 1}), 1.5)  # B refreshes; A died
    assert siblings.expire(TTL_S + 0.1) == 1
    assert tracker.count("vllm-0") == 1
    assert siblings.siblings() == 1
    assert siblings.expire(1.5 + TTL_S + 0.1) == 1
    assert tracker.counts() == {}


def test_a_departed_endpoint_is_forgotten_with_its_siblings_counts() -> None:
    tracker, siblings = tracked()
    tracker.increment("vllm-0")
    siblings.apply(A, 1, InFlightReport(False, {"vllm-0": 2}), 0.0)
    tracker.forget(["vllm-0"])
    assert tracker.count("vllm-0") == 0
    tracker.decrement("vllm-0")  # the request routed there finishes after the endpoint left
    assert tracker.counts() == {}
