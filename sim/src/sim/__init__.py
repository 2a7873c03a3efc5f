"""vLLM-compatible model-server simulator: vLLM's HTTP API and metric names over a clock-driven engine."""

from __future__ import annotations

from sim.config import ConfigError, FaultConfig, LoraModule, SimConfig
from sim.server import SimulatorHandle, start_simulator

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "FaultConfig",
    "LoraModule",
    "SimConfig",
    "SimulatorHandle",
    "start_simulator",
]
