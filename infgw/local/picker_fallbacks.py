"""The local pickers' EndpointPickerConfig asks for fallback endpoints, so Envoy has somewhere to retry.

The EPP's pickers return one endpoint unless ``maxNumOfEndpoints`` says otherwise, and the stack's
default config (the GKE chart's scorers) does not set it. Locally Envoy routes with override-host over
each pool's replicas and walks the picker's list on retries; with a single endpoint there is nothing to
walk and a request whose replica just died is lost. So every picker plugin that leaves the count unset
gets LOCAL_FALLBACK_ENDPOINTS; a count the stack sets explicitly is kept (the stack asked for it).
"""

from __future__ import annotations

import copy
from typing import Any

# Primary plus two fallbacks: enough to survive two replicas lost at once, short enough for the
# picker to score cheaply (it sorts the whole pool anyway).
LOCAL_FALLBACK_ENDPOINTS = 3
MAX_NUM_OF_ENDPOINTS = "maxNumOfEndpoints"
# The picker plugin types that take maxNumOfEndpoints (picker/PLUGINS.md); the picker adds a
# max-score-picker itself when a config names none.
PICKER_PLUGIN_TYPES = frozenset({"max-score-picker", "random-picker", "weighted-random-picker"})
_DEFAULT_PICKER_TYPE = "max-score-picker"


def with_fallback_endpoints(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of the wire-form EndpointPickerConfig whose pickers return LOCAL_FALLBACK_ENDPOINTS
    endpoints unless the config sets their count."""
    updated = copy.deepcopy(config)
    plugins: list[dict[str, Any]] = updated.setdefault("plugins", [])
    pickers = [plugin for plugin in plugins if plugin.get("type") in PICKER_PLUGIN_TYPES]
    if not pickers:
        # The picker would add a one-endpoint max-score-picker for every profile lacking a picker; adding
        # it here first makes it that default, with fallbacks.
        pickers = [{"type": _DEFAULT_PICKER_TYPE}]
        plugins.append(pickers[0])
    for picker in pickers:
        parameters = picker.get("parameters") or {}
        picker["parameters"] = {MAX_NUM_OF_ENDPOINTS: LOCAL_FALLBACK_ENDPOINTS} | parameters
    return updated


def endpoints_per_request(config: dict[str, Any]) -> int:
    """The fewest endpoints any picker of the wire-form config returns (1 when none is configured)."""
    counts = [
        int((plugin.get("parameters") or {}).get(MAX_NUM_OF_ENDPOINTS, 1))
        for plugin in config.get("plugins", [])
        if plugin.get("type") in PICKER_PLUGIN_TYPES
    ]
    return min(counts, default=1)
