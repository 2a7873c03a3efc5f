"""Fixtures for the picker's decision-core unit tests: a fake clock, in-flight tracker and plugin context."""

from __future__ import annotations

import random

import pytest
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(start_s=1000.0)


@pytest.fixture
def in_flight() -> InFlightTracker:
    return InFlightTracker()


@pytest.fixture
def plugin_context(fake_clock: FakeClock, in_flight: InFlightTracker) -> PluginContext:
    return PluginContext(clock=fake_clock, rng=random.Random(7), in_flight=in_flight)
