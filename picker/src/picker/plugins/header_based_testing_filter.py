"""``header-based-testing-filter``: conformance-test filter keeping the endpoints a request header names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picker.framework.context import PluginContext
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest

HEADER_BASED_TESTING_FILTER_TYPE = "header-based-testing-filter"
ENDPOINT_SELECTION_HEADER = "test-epp-endpoint-selection"


class HeaderBasedTestingFilter:
    """Keeps endpoints whose IP (or exact ``ip:port``) appears in ``test-epp-endpoint-selection``, in the
    header's order. A missing or empty header keeps nothing. Never use it in production profiles."""

    plugin_type = HEADER_BASED_TESTING_FILTER_TYPE

    def __init__(self, name: str = HEADER_BASED_TESTING_FILTER_TYPE) -> None:
        self.name = name

    def filter(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[EndpointState]:
        wanted = [entry.strip() for entry in request.headers.get(ENDPOINT_SELECTION_HEADER, "").split(",")]
        by_hostport = {state.endpoint.hostport: state for state in endpoints}
        by_address: dict[str, list[EndpointState]] = {}
        for state in endpoints:
            by_address.setdefault(state.endpoint.address, []).append(state)
        kept: list[EndpointState] = []
        seen: set[str] = set()
        for entry in wanted:
            matches = [by_hostport[entry]] if entry in by_hostport else by_address.get(entry.strip("[]"), [])
            for state in matches:
                if state.endpoint.name not in seen:
                    seen.add(state.endpoint.name)
                    kept.append(state)
        return kept


def create_header_based_testing_filter(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> HeaderBasedTestingFilter:
    PluginParameters.model_validate(parameters)
    return HeaderBasedTestingFilter(name)
