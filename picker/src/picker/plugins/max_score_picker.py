"""``max-score-picker``: the highest total scores win; ties are broken by the injected seeded RNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.seeded_picker import PickerParameters, SeededPicker

MAX_SCORE_PICKER_TYPE = "max-score-picker"


class MaxScorePicker(SeededPicker):
    """Top ``maxNumOfEndpoints`` by score, uniformly random among equal scores (as the EPP's shuffle+sort)."""

    plugin_type = MAX_SCORE_PICKER_TYPE

    def pick(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState], scores: Sequence[float]
    ) -> tuple[EndpointState, ...]:
        if not endpoints:
            return ()
        if self.max_num_of_endpoints == 1:
            # One pass and one RNG draw instead of shuffling every candidate: the hot path at 1,024 endpoints.
            best = max(scores)
            tied = [index for index, score in enumerate(scores) if score == best]
            return (endpoints[tied[0] if len(tied) == 1 else self._rng.choice(tied)],)
        random_key = self._rng.random
        # Sorted by (score descending, one draw per candidate in candidate order) as two stable sorts with
        # C-level keys: no key tuple per candidate.
        draws = [random_key() for _ in scores]
        order = sorted(range(len(endpoints)), key=draws.__getitem__)
        order.sort(key=[-score for score in scores].__getitem__)
        return tuple(endpoints[index] for index in order[: self.max_num_of_endpoints])


def create_max_score_picker(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> MaxScorePicker:
    params = PickerParameters.model_validate(parameters)
    return MaxScorePicker(context.rng, params.max_num_of_endpoints, name)
