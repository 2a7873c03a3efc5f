"""Offline plan: run the real Pulumi program under recording mocks in preview mode and report every
resource `pulumi up` would create. No cloud, CLI or provider plugin involved; computed values stay unknown.
"""

from __future__ import annotations

from infgw.plan.model import SECRET, UNKNOWN, Plan, PlannedResource
from infgw.plan.recorder import PlanRecorder
from infgw.plan.runner import build_plan, run_program

__all__ = ["SECRET", "UNKNOWN", "Plan", "PlanRecorder", "PlannedResource", "build_plan", "run_program"]
