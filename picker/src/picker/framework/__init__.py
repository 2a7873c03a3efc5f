"""Contracts of the scheduling framework: data types, plugin protocols, registry, clock and the scheduler."""

from __future__ import annotations

from picker.framework.clock import Clock, FakeClock, RealClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import (
    EndpointPruner,
    Filter,
    Picker,
    Plugin,
    PreRequest,
    ProfileHandler,
    ProfileResult,
    ResponseComplete,
    SchedulingResult,
    Scorer,
    WeightedScorer,
)
from picker.framework.registry import PluginParameters, PluginRegistry, UnknownPluginTypeError
from picker.framework.scheduler import Scheduler, SchedulerProfile

__all__ = [
    "Clock",
    "EndpointPruner",
    "FakeClock",
    "Filter",
    "InFlightTracker",
    "Picker",
    "Plugin",
    "PluginContext",
    "PluginParameters",
    "PluginRegistry",
    "PreRequest",
    "ProfileHandler",
    "ProfileResult",
    "RealClock",
    "ResponseComplete",
    "Scheduler",
    "SchedulerProfile",
    "SchedulingResult",
    "Scorer",
    "UnknownPluginTypeError",
    "WeightedScorer",
]
