"""The local pickers ask for fallback endpoints where the stack leaves the count unset, and the picker
itself reads the result as a picker returning that many endpoints."""

from __future__ import annotations

import random

import pytest
import yaml
from components.crds.endpoint_picker_config import EndpointPickerConfig
from picker.config.builder import build_scheduling
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.plugins import builtin_registry

from infgw.local.picker_fallbacks import (
    LOCAL_FALLBACK_ENDPOINTS,
    endpoints_per_request,
    with_fallback_endpoints,
)
from picker.config import load_config_text

HEADER = {"apiVersion": "inference.networking.x-k8s.io/v1alpha1", "kind": "EndpointPickerConfig"}


def picker_counts(config: dict) -> dict[str, int]:
    """Profile -> endpoints its picker returns, as the picker builds the config."""
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    setup = build_scheduling(load_config_text(yaml.safe_dump(config)), builtin_registry(), context)
    return {name: profile.picker.max_num_of_endpoints for name, profile in setup.scheduler.profiles.items()}


def test_the_stacks_default_config_returns_a_primary_and_two_fallbacks() -> None:
    default = EndpointPickerConfig.default_scorers().to_wire()
    assert picker_counts(default) == {"default": 1}  # the EPP's default: nothing to retry on
    updated = with_fallback_endpoints(default)
    assert LOCAL_FALLBACK_ENDPOINTS == 3
    assert picker_counts(updated) == {"default": LOCAL_FALLBACK_ENDPOINTS}
    assert endpoints_per_request(updated) == LOCAL_FALLBACK_ENDPOINTS
    assert endpoints_per_request(default) == 1
    assert default == EndpointPickerConfig.default_scorers().to_wire()  # the input is left alone


def test_a_config_naming_no_picker_gets_a_max_score_picker_with_fallbacks() -> None:
    config = HEADER | {
        "plugins": [{"type": "queue-scorer"}],
        "schedulingProfiles": [{"name": "default", "plugins": [{"pluginRef": "queue-scorer"}]}],
    }
    assert picker_counts(with_fallback_endpoints(config)) == {"default": LOCAL_FALLBACK_ENDPOINTS}


@pytest.mark.parametrize("picker_type", ["max-score-picker", "random-picker", "weighted-random-picker"])
def test_an_explicit_count_is_kept_and_other_parameters_survive(picker_type: str) -> None:
    config = HEADER | {"plugins": [{"type": picker_type, "parameters": {"maxNumOfEndpoints": 2}}]}
    assert picker_counts(with_fallback_endpoints(config)) == {"default": 2}
    unset = HEADER | {"plugins": [{"type": picker_type, "name": "mine"}]}
    updated = with_fallback_endpoints(unset)
    assert updated["plugins"] == [
        {"type": picker_type, "name": "mine", "parameters": {"maxNumOfEndpoints": LOCAL_FALLBACK_ENDPOINTS}}
    ]
