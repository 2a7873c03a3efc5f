"""``weighted-random-picker``: samples endpoints with probability proportional to their total score."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.seeded_picker import PickerParameters, SeededPicker

WEIGHTED_RANDOM_PICKER_TYPE = "weighted-random-picker"


class WeightedRandomPicker(SeededPicker):
    """A-Res weighted sampling without replacement: key = U^(1/score), the largest keys win.

    Zero-score endpoints come after every positive one (as their key is 0); all zero is a uniform pick.
    """

    plugin_type = WEIGHTED_RANDOM_PICKER_TYPE

    def pick(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState], scores: Sequence[float]
    ) -> tuple[EndpointState, ...]:
        positive = [index for index, score in enumerate(scores) if score > 0.0]
        if not positive:
            return self.uniform(endpoints)
        count = min(self.max_num_of_endpoints, len(endpoints))
        draw = self._rng.random
        # 1 - U lies in (0, 1], so the key is defined for every draw.
        keyed = [((1.0 - draw()) ** (1.0 / scores[index]), index) for index in positive]
        chosen = [index for _, index in heapq.nlargest(min(count, len(keyed)), keyed)]
        if len(chosen) < count:  # zero scores have key 0: they only fill the remaining fallback slots
            zero_scored = [index for index, score in enumerate(scores) if score <= 0.0]
            chosen.extend(self._rng.sample(zero_scored, count - len(chosen)))
        return tuple(endpoints[index] for index in chosen)


def create_weighted_random_picker(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> WeightedRandomPicker:
    params = PickerParameters.model_validate(parameters)
    return WeightedRandomPicker(context.rng, params.max_num_of_endpoints, name)
