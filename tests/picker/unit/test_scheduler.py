from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from picker.errors import ErrorCode, PickerError
from picker.framework.clock import FakeClock
from picker.framework.interfaces import WeightedScorer
from picker.framework.scheduler import Scheduler, SchedulerProfile
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.header_based_testing_filter import HeaderBasedTestingFilter
from picker.plugins.max_score_picker import MaxScorePicker
from picker.plugins.single_profile_handler import SingleProfileHandler

from tests.picker.unit.builders import endpoint_state, inference_request

STATES = [endpoint_state(i) for i in range(3)]


class FixedScorer:
    """Returns canned scores, possibly out of range, to test the scheduler's clamping."""

    plugin_type = "fixed-scorer"

    def __init__(self, scores: Sequence[float], name: str = "fixed") -> None:
        self.name = name
        self._scores = list(scores)

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[float]:
        return self._scores[: len(endpoints)]


class RecordingPicker(MaxScorePicker):
    def __init__(self) -> None:
        super().__init__(random.Random(0))
        self.seen_scores: list[float] = []

    def pick(self, request, endpoints, scores):
        self.seen_scores = list(scores)
        return super().pick(request, endpoints, scores)


def schedule(scorers: list[WeightedScorer], filters=(), observe=None):
    picker = RecordingPicker()
    profile = SchedulerProfile("default", tuple(filters), tuple(scorers), picker)
    scheduler = Scheduler({"default": profile}, SingleProfileHandler(), FakeClock(), observe)
    return scheduler.schedule(inference_request(), STATES), picker


@pytest.mark.parametrize(
    ("raw_scores", "weight", "expected_totals"),
    [
        ([0.2, 0.5, 1.0], 1.0, [0.2, 0.5, 1.0]),
        ([5.0, -3.0, 0.5], 1.0, [1.0, 0.0, 0.5]),
        ([0.5, 0.25, 1.0], 4.0, [2.0, 1.0, 4.0]),
        ([float("inf"), 0.0, 0.0], 2.0, [2.0, 0.0, 0.0]),
    ],
    ids=[
        "in range unchanged",
        "above 1 and below 0 clamped",
        "weight multiplies",
        "infinity clamped to weight",
    ],
)
def test_scores_are_clamped_then_weighted(raw_scores, weight, expected_totals) -> None:
    _, picker = schedule([WeightedScorer(FixedScorer(raw_scores), weight)])
    assert picker.seen_scores == pytest.approx(expected_totals)


def test_weighted_sum_is_not_normalised_and_decides_the_pick() -> None:
    prefers_e0 = WeightedScorer(FixedScorer([1.0, 0.0, 0.0], "a"), 1.0)
    prefers_e2 = WeightedScorer(FixedScorer([0.0, 0.0, 1.0], "b"), 3.0)
    result, picker = schedule([prefers_e0, prefers_e2])
    assert picker.seen_scores == pytest.approx([1.0, 0.0, 3.0])
    assert result.primary.endpoints[0].endpoint.name == "e2"


def test_filter_removing_everyone_is_a_429() -> None:
    with pytest.raises(PickerError) as raised:
        schedule([WeightedScorer(FixedScorer([1, 1, 1]))], filters=[HeaderBasedTestingFilter()])
    assert raised.value.code is ErrorCode.RESOURCE_EXHAUSTED
    assert raised.value.http_status == 429


def test_no_candidates_is_a_503() -> None:
    profile = SchedulerProfile("default", (), (), MaxScorePicker(random.Random(0)))
    scheduler = Scheduler({"default": profile}, SingleProfileHandler(), FakeClock())
    with pytest.raises(PickerError) as raised:
        scheduler.schedule(inference_request(), [])
    assert raised.value.http_status == 503


def test_plugin_durations_are_reported_per_extension_point() -> None:
    observed: list[tuple[str, str, str]] = []
    schedule(
        [WeightedScorer(FixedScorer([1, 0, 0]))],
        observe=lambda point, plugin_type, name, seconds: observed.append((point, plugin_type, name)),
    )
    assert observed == [
        ("ProfilePicker", "single-profile-handler", "single-profile-handler"),
        ("Scorer", "fixed-scorer", "fixed"),
        ("Picker", "max-score-picker", "max-score-picker"),
        ("ProfilePicker", "single-profile-handler", "single-profile-handler"),
    ]


class TwoProfileHandler:
    """Runs 'main' then 'shadow'; 'main' is primary. Exercises the profile loop."""

    plugin_type = "two-profile-handler"
    name = "two"

    def pick_profiles(self, request, profiles, results):
        return [name for name in ("main", "shadow") if name not in results][:1]

    def process_results(self, request, results):
        from picker.framework.interfaces import SchedulingResult

        return SchedulingResult(dict(results), "main")


def test_profiles_run_until_the_handler_stops() -> None:
    main = SchedulerProfile(
        "main", (), (WeightedScorer(FixedScorer([0, 1, 0])),), MaxScorePicker(random.Random(0))
    )
    shadow = SchedulerProfile(
        "shadow", (), (WeightedScorer(FixedScorer([1, 0, 0])),), MaxScorePicker(random.Random(0))
    )
    result = Scheduler({"main": main, "shadow": shadow}, TwoProfileHandler(), FakeClock()).schedule(
        inference_request(), STATES
    )
    assert result.primary.endpoints[0].endpoint.name == "e1"
    assert result.profile_results["shadow"].endpoints[0].endpoint.name == "e0"
