"""``random-picker``: uniformly random endpoints, ignoring scores (seeded RNG)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.max_score_picker import PickerParameters

RANDOM_PICKER_TYPE = "random-picker"


class RandomPicker:
    """``maxNumOfEndpoints`` distinct endpoints drawn uniformly without replacement."""

    plugin_type = RANDOM_PICKER_TYPE

    def __init__(
        self, rng: random.Random, max_num_of_endpoints: int = 1, name: str = RANDOM_PICKER_TYPE
    ) -> None:
        self.name = name
        self.max_num_of_endpoints = max_num_of_endpoints
        self._rng = rng

    def pick(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState], scores: Sequence[float]
    ) -> tuple[EndpointState, ...]:
        count = min(self.max_num_of_endpoints, len(endpoints))
        return tuple(endpoints[index] for index in self._rng.sample(range(len(endpoints)), count))


def create_random_picker(name: str, parameters: Mapping[str, Any], context: PluginContext) -> RandomPicker:
    params = PickerParameters.model_validate(parameters)
    return RandomPicker(context.rng, params.max_num_of_endpoints, name)
