"""Shared fixtures for the simulator tests: engines in virtual time and real servers on 127.0.0.1:0."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sim.engine import Engine, EngineConfig
from sim.latency_profile import LatencyProfile, load_profile

from sim import SimConfig, SimulatorHandle, start_simulator

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


class PrometheusText:
    """Reads a /metrics body the way a scraper does (prometheus_client's own parser)."""

    @staticmethod
    def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Sample name -> [(labels, value)], for every sample in the exposition."""
        found: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return found

    @classmethod
    def value(cls, text: str, name: str, **labels: str) -> float:
        """The one sample of ``name`` whose labels include ``labels``."""
        matches = [v for found, v in cls.samples(text).get(name, []) if labels.items() <= found.items()]
        if len(matches) != 1:
            raise AssertionError(f"expected one {name}{labels} sample, found {len(matches)}")
        return matches[0]


@pytest.fixture
def prom() -> type[PrometheusText]:
    return PrometheusText
