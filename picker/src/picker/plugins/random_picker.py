"""``random-picker``: uniformly random endpoints, ignoring scores (seeded RNG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.seeded_picker import PickerParameters, SeededPicker

RANDOM_PICKER_TYPE = "random-picker"


class RandomPicker(SeededPicker):
    """``maxNumOfEndpoints`` distinct endpoints drawn uniformly without replacement."""

    plugin_type = RANDOM_PICKER_TYPE

    def pick(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState], scores: Sequence[float]
    ) -> tuple[EndpointState, ...]:
        return self.uniform(endpoints)


def create_random_picker(name: str, parameters: Mapping[str, Any], context: PluginContext) -> RandomPicker:
    params = PickerParameters.model_validate(parameters)
    return RandomPicker(context.rng, params.max_num_of_endpoints, name)
