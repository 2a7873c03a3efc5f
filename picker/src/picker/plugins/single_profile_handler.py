"""``single-profile-handler``: runs the one configured profile once and makes it the primary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.interfaces import ProfileResult, SchedulerProfileView, SchedulingResult
from picker.framework.registry import PluginParameters
from picker.framework.types import InferenceRequest

SINGLE_PROFILE_HANDLER_TYPE = "single-profile-handler"


class SingleProfileHandler:
    """Selects every profile (there is exactly one, the loader checks) on the first call, none after."""

    plugin_type = SINGLE_PROFILE_HANDLER_TYPE

    def __init__(self, name: str = SINGLE_PROFILE_HANDLER_TYPE) -> None:
        self.name = name

    def pick_profiles(
        self,
        request: InferenceRequest,
        profiles: Mapping[str, SchedulerProfileView],
        results: Mapping[str, ProfileResult | None],
    ) -> Sequence[str]:
        return [] if results else list(profiles)

    def process_results(
        self, request: InferenceRequest, results: Mapping[str, ProfileResult | None]
    ) -> SchedulingResult:
        (profile_name,) = results  # exactly one profile ran
        return SchedulingResult(profile_results=dict(results), primary_profile=profile_name)


def create_single_profile_handler(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> SingleProfileHandler:
    PluginParameters.model_validate(parameters)
    return SingleProfileHandler(name)
