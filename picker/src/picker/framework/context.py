"""What a plugin factory receives besides its name and parameters: the injected clock, RNG and in-flight view."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from picker.framework.clock import Clock
from picker.framework.in_flight import InFlightTracker
from picker.framework.placement_sharing import NoPlacementSharing, PlacementSharing


class PluginMetricsSink(Protocol):
    """Where plugins report what the EPP's ``inference_extension_prefix_indexer_*`` metrics show, and the
    precise prefix scorer its KV-event stream health."""

    def record_prefix_match(self, matched_bytes: int, total_bytes: int) -> None: ...

    def record_kv_events(self, event_type: str, count: int) -> None: ...

    def record_kv_event_error(self, cause: str) -> None: ...

    def set_kv_event_fallback_endpoints(self, count: int) -> None: ...


class NullPluginMetrics:
    """Records nothing: the sink of plugins built without a picker's metrics (config checks, tests)."""

    def record_prefix_match(self, matched_bytes: int, total_bytes: int) -> None:
        pass

    def record_kv_events(self, event_type: str, count: int) -> None:
        pass

    def record_kv_event_error(self, cause: str) -> None:
        pass

    def set_kv_event_fallback_endpoints(self, count: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class PluginContext:
    """Shared, injected dependencies. ``rng`` is the only randomness plugins may use (seeded by the caller)."""

    clock: Clock
    rng: random.Random
    in_flight: InFlightTracker
    metrics: PluginMetricsSink = field(default_factory=NullPluginMetrics)
    # False when only checking a config away from where it runs (preflight, `infgw plan`): plugins validate
    # their parameters but do not read files or download what exists only in the picker's pod.
    load_external: bool = True
    # Where plugins publish their placements for sibling deciders (--workers) and receive theirs.
    placements: PlacementSharing = field(default_factory=NoPlacementSharing)
