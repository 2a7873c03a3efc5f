"""The scheduler: profile handler -> per profile (filters in order -> weighted scorers -> picker).

Semantics follow the EPP (inference-extension.md section 4.3): the total score of a candidate is
sum(clamp(score, 0, 1) * weight) with no normalisation by the total weight; filters that leave no
candidate fail their profile; a request whose primary profile fails is rejected with 429.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from picker.errors import ErrorCode, PickerError
from picker.framework.clock import Clock
from picker.framework.interfaces import (
    Filter,
    Picker,
    ProfileHandler,
    ProfileResult,
    SchedulingResult,
    WeightedScorer,
)
from picker.framework.types import EndpointState, InferenceRequest

# (extension_point, plugin_type, plugin_name, seconds) -> None; fed to inference_extension_plugin_duration_seconds.
PluginDurationObserver = Callable[[str, str, str, float], None]

_MAX_PROFILE_ITERATIONS = 16  # a handler that never stops asking for profiles is a bug, not a hang


@dataclass(frozen=True, slots=True)
class SchedulerProfile:
    """One named pipeline of plugins."""

    name: str
    filters: tuple[Filter, ...]
    scorers: tuple[WeightedScorer, ...]
    picker: Picker

    def run(
        self,
        request: InferenceRequest,
        candidates: Sequence[EndpointState],
        clock: Clock,
        observe: PluginDurationObserver | None = None,
    ) -> ProfileResult | None:
        """The profile's pick, or None when the filters left no candidate."""
        endpoints: Sequence[EndpointState] = candidates
        for plugin in self.filters:
            started_s = clock.now()
            endpoints = plugin.filter(request, endpoints)
            if observe is not None:
                observe("Filter", plugin.plugin_type, plugin.name, clock.now() - started_s)
            if not endpoints:
                return None
        totals = [0.0] * len(endpoints)
        for weighted in self.scorers:
            started_s = clock.now()
            scores = weighted.scorer.score(request, endpoints)
            if observe is not None:
                observe("Scorer", weighted.scorer.plugin_type, weighted.scorer.name, clock.now() - started_s)
            weight = weighted.weight
            # Clamping here, not in scorers, is what keeps a misbehaving scorer within its weight.
            totals = [
                total + (weight if score >= 1.0 else score * weight if score > 0.0 else 0.0)
                for total, score in zip(totals, scores, strict=True)
            ]
        started_s = clock.now()
        chosen = self.picker.pick(request, endpoints, totals)
        if observe is not None:
            observe("Picker", self.picker.plugin_type, self.picker.name, clock.now() - started_s)
        if not chosen:
            return None
        return ProfileResult(endpoints=chosen)


class Scheduler:
    """Runs the profiles a ProfileHandler selects and returns its SchedulingResult."""

    def __init__(
        self,
        profiles: Mapping[str, SchedulerProfile],
        profile_handler: ProfileHandler,
        clock: Clock,
        observe: PluginDurationObserver | None = None,
    ) -> None:
        if not profiles:
            raise ValueError("a scheduler needs at least one profile")
        self._profiles = dict(profiles)
        self._handler = profile_handler
        self._clock = clock
        self._observe = observe

    @property
    def profiles(self) -> Mapping[str, SchedulerProfile]:
        return self._profiles

    def schedule(self, request: InferenceRequest, candidates: Sequence[EndpointState]) -> SchedulingResult:
        """Pick endpoints for ``request`` among ``candidates``.

        Raises:
            PickerError: SERVICE_UNAVAILABLE with no candidates; RESOURCE_EXHAUSTED when the primary profile
                found no endpoint (filters removed every candidate).
        """
        if not candidates:
            raise PickerError(ErrorCode.SERVICE_UNAVAILABLE, "no ready endpoints in the pool")
        results: dict[str, ProfileResult | None] = {}
        for _ in range(_MAX_PROFILE_ITERATIONS):
            started_s = self._clock.now()
            selected = self._handler.pick_profiles(request, self._profiles, results)
            if self._observe is not None:
                self._observe(
                    "ProfilePicker",
                    self._handler.plugin_type,
                    self._handler.name,
                    self._clock.now() - started_s,
                )
            if not selected:
                break
            for profile_name in selected:
                results[profile_name] = self._profiles[profile_name].run(
                    request, candidates, self._clock, self._observe
                )
        else:
            raise PickerError(ErrorCode.INTERNAL, "profile handler did not stop selecting profiles")
        result = self._handler.process_results(request, results)
        if results.get(result.primary_profile) is None:
            raise PickerError(
                ErrorCode.RESOURCE_EXHAUSTED,
                f"failed to find a target endpoint: profile {result.primary_profile!r} filtered out every candidate",
            )
        return result
