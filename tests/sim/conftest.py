"""Shared fixtures for the simulator tests: engines in virtual time and real servers on 127.0.0.1:0."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from sim import SimConfig, SimulatorHandle, start_simulator
from sim.engine import Engine, EngineConfig
from sim.latency_profile import LatencyProfile, load_profile

StartSim = Callable[..., Awaitable[SimulatorHandle]]


@pytest.fixture
def h100_profile() -> LatencyProfile:
    return load_profile("h100-llama3.1-8b")


@pytest.fixture
def make_engine(h100_profile: LatencyProfile) -> Callable[..., Engine]:
    def make(seed: int = 7, **limits: object) -> Engine:
        values: dict[str, object] = {"num_gpu_blocks": 4096, "max_model_len": 8192} | limits
        values.setdefault("profile", h100_profile)
        return Engine(EngineConfig.model_validate(values), random.Random(seed))

    return make


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """Start replicas on free loopback ports; every one is stopped when the test ends."""
    handles: list[SimulatorHandle] = []

    async def start(**values: object) -> SimulatorHandle:
        values = {"host": "127.0.0.1", "port": 0, "profile": "zero-latency"} | values
        handle = await start_simulator(SimConfig.build(**values))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        await handle.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session
