"""The schema-versioned result a benchmark run writes (JSON) and every renderer reads."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bench.bound import PrefixCacheBound
from bench.stats.prefix_cache import ReplicaCacheStats
from bench.stats.summary import RunSummary

SCHEMA_VERSION = 2  # 2: overhead per phase (streamed or not, by concurrency)

TargetStatus = Literal["ok", "unavailable", "failed"]
ArtifactPlace = Literal["before the first token", "between tokens", "after the last token"]


class PickerRestartResult(BaseModel):
    """The fleet's prefix-cache hit rate in ``window_s`` before a picker restart and ``window_s`` after the
    new picker routed again (``recovery_s`` after the old one stopped)."""

    at_s: float = Field(description="When the picker was stopped, seconds into the load.")
    window_s: float
    recovery_s: float
    hit_rate_before: float | None
    hit_rate_after: float | None
    failed_while_down: int = Field(default=0, description="Requests sent while no picker ran that failed.")

    @property
    def drop_points(self) -> float | None:
        """Percentage points lost after the restart (negative: gained)."""
        if self.hit_rate_before is None or self.hit_rate_after is None:
            return None
        return 100.0 * (self.hit_rate_before - self.hit_rate_after)


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
    picker_restart: PickerRestartResult | None = None


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


class OverheadPhase(BaseModel):
    """One closed-loop phase on zero-latency replicas: streamed or not, at one concurrency.

    Per request, ``max_gap`` is the longest wait between two content chunks and ``tail`` the time from the
    last content chunk to the end of the response (usage chunk, ``[DONE]``); both are streamed-only. A
    non-streamed answer's first token arrives with its body, so its TTFT is its e2e latency. ``*_added``
    fields subtract the baseline's (``direct``) same phase, percentile from percentile.
    """

    stream: bool
    concurrency: int
    ok: int
    errors: int
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    e2e_p50_ms: float | None = None
    e2e_p99_ms: float | None = None
    max_gap_p50_ms: float | None = None
    tail_p50_ms: float | None = None
    ttft_added_p50_ms: float | None = None
    ttft_added_p99_ms: float | None = None
    e2e_added_p50_ms: float | None = None
    e2e_added_p99_ms: float | None = None
    max_gap_added_p50_ms: float | None = None
    tail_added_p50_ms: float | None = None
    stall_40ms_share: float | None = Field(
        default=None, description="Share of streamed requests with one wait (first token, a gap or the tail) "
        "30-50 ms longer than the baseline's median for it: the Nagle/delayed-ACK signature.")


class OverheadArtifact(BaseModel):
    """Latency a router adds to streamed responses only: a transport effect, not routing cost."""

    concurrency: int
    where: ArtifactPlace
    cause: str
    excess_ms: float = Field(description="Streamed e2e-added p50 minus non-streamed e2e-added p50.")


class OverheadRun(BaseModel):
    """Zero-latency replicas: what the routing layer itself adds, per phase, and its throughput."""

    target: str
    status: TargetStatus
    reason: str = ""
    phases: list[OverheadPhase] = Field(default_factory=list)
    artifacts: list[OverheadArtifact] = Field(default_factory=list)
    max_sustained_rps: float | None = None
    concurrency: int = Field(default=0, description="Requests in flight in the throughput phase.")

    def phase(self, stream: bool, concurrency: int) -> OverheadPhase | None:
        return next((p for p in self.phases if p.stream == stream and p.concurrency == concurrency), None)


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
