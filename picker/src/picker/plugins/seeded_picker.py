"""What the three pickers share: ``maxNumOfEndpoints`` (primary plus fallbacks), the injected seeded RNG, and
the uniform draw (``random-picker``'s rule and ``weighted-random-picker``'s all-zero case)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from pydantic import Field

from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState


class PickerParameters(PluginParameters):
    max_num_of_endpoints: int = Field(default=1, ge=1, description="primary plus fallbacks to return")


class SeededPicker:
    """A picker's state: its config name (default: its type), how many endpoints it returns, its RNG."""

    plugin_type: str

    def __init__(self, rng: random.Random, max_num_of_endpoints: int = 1, name: str | None = None) -> None:
        self.name = self.plugin_type if name is None else name
        self.max_num_of_endpoints = max_num_of_endpoints
        self._rng = rng

    def uniform(self, endpoints: Sequence[EndpointState]) -> tuple[EndpointState, ...]:
        """``maxNumOfEndpoints`` distinct endpoints (or all there are) drawn uniformly without replacement."""
        count = min(self.max_num_of_endpoints, len(endpoints))
        return tuple(endpoints[index] for index in self._rng.sample(range(len(endpoints)), count))
