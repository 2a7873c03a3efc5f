"""Envoy as the local inference gateway: typed bootstrap inputs, the bootstrap builder and the binary.
Reused by the local gateway and the benchmarks; ``infgw.launch.envoy_process`` runs it."""

from __future__ import annotations

from infgw.envoy.binary import EnvoyError, find_envoy_binary, validate_bootstrap
from infgw.envoy.bootstrap import build_bootstrap, render_yaml
from infgw.envoy.spec import (
    WORKER_STREAMS_PER_CONNECTION,
    BodyMode,
    DestinationRouting,
    EnvoyBootstrapSpec,
    PickerConnection,
)

__all__ = [
    "WORKER_STREAMS_PER_CONNECTION",
    "BodyMode",
    "DestinationRouting",
    "EnvoyBootstrapSpec",
    "EnvoyError",
    "PickerConnection",
    "build_bootstrap",
    "find_envoy_binary",
    "render_yaml",
    "validate_bootstrap",
]
