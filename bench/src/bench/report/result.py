"""The schema-versioned result a benchmark run writes (JSON) and every renderer reads."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bench.bound import PrefixCacheBound
from bench.stats.prefix_cache import ReplicaCacheStats
from bench.stats.summary import RunSummary

SCHEMA_VERSION = 1

TargetStatus = Literal["ok", "unavailable", "failed"]


class TargetRun(BaseModel):
    """One target on one scenario. ``status`` != ok carries the reason instead of numbers."""

    target: str
    status: TargetStatus
    reason: str = ""
    summary: RunSummary | None = None
    cache: list[ReplicaCacheStats] = Field(default_factory=list)
    fleet_hit_rate: float | None = None
    bound_hit_rate: float | None = Field(default=None, description="The bound over the requests this run sent.")
    requests_per_replica: dict[str, int] = Field(default_factory=dict)
    replicas_per_group: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Per prefix group, requests each replica served (placement).")
    ttft_samples_ms: list[float] = Field(default_factory=list, description="For the TTFT CDF plot.")


class ScenarioResult(BaseModel):
    name: str
    description: str
    workload: dict[str, Any]
    load: dict[str, Any]
    bound: PrefixCacheBound | None = None
    bound_note: str = ""
    runs: list[TargetRun]


class SweepPoint(BaseModel):
    rate_rps: float
    summary: RunSummary | None
    status: TargetStatus
    reason: str = ""


class SweepResult(BaseModel):
    """Throughput vs offered load per target; ``saturation_rps`` is the highest rate still within SLO."""

    scenario: str
    target: str
    points: list[SweepPoint]
    saturation_rps: float | None


class OverheadRun(BaseModel):
    """Zero-latency replicas: what the routing layer itself adds."""

    target: str
    status: TargetStatus
    reason: str = ""
    latency_added_p50_ms: float | None = None
    latency_added_p99_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p99_ms: float | None = None
    max_sustained_rps: float | None = None
    concurrency: int = 0


class BenchResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    command: str
    seed: int
    mode: str
    started_at: str
    duration_s: float
    machine: dict[str, Any]
    versions: dict[str, str]
    fleet: dict[str, Any]
    scenarios: list[ScenarioResult] = Field(default_factory=list)
    sweeps: list[SweepResult] = Field(default_factory=list)
    overhead: list[OverheadRun] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
