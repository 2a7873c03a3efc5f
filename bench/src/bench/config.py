"""``BenchConfig``: the fleet, scenarios, targets and seed of one benchmark run, validated up front."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sim.config import SimConfig

from bench.driver.load import LoadShape
from bench.stats.slo import Slo
from bench.workloads import AnyWorkload
from bench.workloads.base import WorkloadSpec

# A fleet setting the bench does not choose on purpose takes the simulator's default (defined once, there).
_SIM_FIELDS = SimConfig.model_fields


class FleetSpec(BaseModel):
    """The simulated replicas every target routes to; field names are the simulator's config keys.

    ``num_gpu_blocks`` is deliberately small by default so that a handful of long shared contexts
    overflow one replica's KV cache but fit in the fleet's: the regime where routing decides hit rate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int = Field(default=4, ge=1, le=32)
    profile: str = Field(default=_SIM_FIELDS["profile"].default, description="Simulator latency profile.")
    # The model the workloads' requests name unless they set one (defined once, in WorkloadSpec).
    model: str = WorkloadSpec.model_fields["model"].default
    num_gpu_blocks: int = Field(default=600, gt=0, description="KV blocks per replica.")
    block_size: int = Field(default=_SIM_FIELDS["block_size"].default, description="KV block size in tokens.")
    max_num_seqs: int = Field(default=64, gt=0)
    max_model_len: int = Field(default=8192, gt=0)
    max_loras: int = Field(default=_SIM_FIELDS["max_loras"].default, ge=0)
    lora_modules: list[str] = Field(default_factory=list, description="Adapter names every replica serves.")
    scheduling_policy: Literal["fcfs", "priority"] = Field(
        default=_SIM_FIELDS["scheduling_policy"].default,
        description="The replicas' vLLM --scheduling-policy; picker targets get the matching "
        "--model-server-scheduling-policy, as the stack's services.pools[].schedulingPolicy sets both.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Passed to the simulator config as is.")

    @model_validator(mode="after")
    def _context_fits(self) -> FleetSpec:
        if self.max_model_len > self.num_gpu_blocks * self.block_size:
            raise ValueError(
                f"fleet.max_model_len ({self.max_model_len}) exceeds one replica's KV cache "
                f"({self.num_gpu_blocks} x {self.block_size} tokens); lower max_model_len or raise num_gpu_blocks")
        return self

    def describe(self) -> dict[str, Any]:
        return {"replicas": self.replicas, "profile": self.profile, "kv_blocks_per_replica": self.num_gpu_blocks,
                "block_size": self.block_size, "max_num_seqs": self.max_num_seqs,
                "scheduling_policy": self.scheduling_policy}


class PickerRestart(BaseModel):
    """Restart the target's picker ``at_s`` into the load and compare the fleet's prefix-cache hit rate in
    the ``window_s`` before the restart with the ``window_s`` after the new picker is ready again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at_s: float = Field(gt=0, description="Seconds into the load; at least window_s, so the window before fits.")
    window_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _window_fits(self) -> PickerRestart:
        if self.at_s < self.window_s:
            raise ValueError(f"picker_restart.at_s ({self.at_s:g}) must be >= window_s ({self.window_s:g}); "
                             f"the window before the restart starts at at_s - window_s")
        return self


class Scenario(BaseModel):
    """One workload under one load shape, run against every target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Used in file names and headings.")
    description: str = ""
    workload: AnyWorkload
    load: LoadShape
    slo: Slo = Field(default_factory=Slo)
    fleet: dict[str, Any] = Field(default_factory=dict, description="Overrides of the run's fleet for this scenario.")
    sweep_rates_rps: list[float] = Field(default_factory=list, description="Open-loop rates for sweep mode.")
    targets: list[str] | None = Field(default=None, description="Run only these of the run's targets here.")
    picker_restart: PickerRestart | None = Field(
        default=None, description="Restart each target's picker mid-run (picker targets only).")

    @model_validator(mode="after")
    def _restart_within_load(self) -> Scenario:
        restart = self.picker_restart
        if restart is not None and self.load.duration_s < restart.at_s + restart.window_s:
            raise ValueError(
                f"scenarios[{self.name}]: load.duration_s ({self.load.duration_s:g}) must cover "
                f"picker_restart.at_s + window_s ({restart.at_s + restart.window_s:g}) plus the restart itself; "
                f"raise duration_s")
        return self

    @field_validator("sweep_rates_rps")
    @classmethod
    def _rates_positive(cls, rates: list[float]) -> list[float]:
        if any(rate <= 0 for rate in rates):
            raise ValueError("sweep_rates_rps must all be > 0")
        return sorted(rates)


DEFAULT_OVERHEAD_TARGETS = ("direct", "envoy-round-robin", "picker-default", "picker-recommended",
                            "picker-recommended-lean", "picker-precise", "picker-llm-d-default",
                            "picker-precise-2-workers", "sglang-router", "vllm-router", "smg")


class OverheadSpec(BaseModel):
    """Overhead mode: zero-latency replicas; latency read at low concurrencies (no queueing anywhere), each
    with non-streamed and with streamed requests, then throughput at high concurrency (streamed).
    ``direct`` is always measured first as the zero-overhead reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: list[str] = Field(default_factory=lambda: list(DEFAULT_OVERHEAD_TARGETS), min_length=1)
    latency_concurrencies: list[int] = Field(default_factory=lambda: [1, 4], min_length=1,
                                             description="Requests in flight in the latency phases.")
    latency_duration_s: float = Field(default=5.0, gt=0, description="Per phase (each kind, each concurrency).")
    warmup_requests: int = Field(default=20, ge=0, description="Of each kind, sent first and not recorded.")
    throughput_concurrency: int = Field(default=48, ge=1)
    throughput_duration_s: float = Field(default=5.0, gt=0)
    prompt_words: int = Field(default=40, ge=1)
    max_tokens: int = Field(default=8, ge=1)
    fleet: FleetSpec = Field(default_factory=lambda: FleetSpec(
        profile="zero-latency", num_gpu_blocks=100_000, max_num_seqs=1024, max_model_len=16384))


    @field_validator("latency_concurrencies")
    @classmethod
    def _concurrencies_positive(cls, values: list[int]) -> list[int]:
        if any(value < 1 for value in values):
            raise ValueError(f"latency_concurrencies must all be >= 1, got {values}")
        return sorted(set(values))


class BenchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 1
    fleet: FleetSpec = Field(default_factory=FleetSpec)
    scenarios: list[Scenario]
    targets: list[str] = Field(min_length=1)
    request_timeout_s: float = Field(default=120.0, gt=0)
    overhead: OverheadSpec = Field(default_factory=OverheadSpec, description="The routing-overhead part.")

    @model_validator(mode="after")
    def _names_unique(self) -> BenchConfig:
        names = [s.name for s in self.scenarios]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"scenario names must be unique; repeated: {repeated}")
        for scenario in self.scenarios:
            stray = sorted(set(scenario.targets or ()) - set(self.targets))
            if stray:
                raise ValueError(f"scenarios[{scenario.name}].targets names {stray}, which are not in targets; "
                                 f"add them to targets or drop them here")
        return self

    def targets_for(self, scenario: Scenario) -> list[str]:
        """The run's targets (in the run's order) that this scenario includes."""
        if scenario.targets is None:
            return list(self.targets)
        return [name for name in self.targets if name in scenario.targets]

    def fleet_for(self, scenario: Scenario) -> FleetSpec:
        if not scenario.fleet:
            return self.fleet
        try:
            return FleetSpec.model_validate({**self.fleet.model_dump(), **scenario.fleet})
        except ValueError as err:
            raise ValueError(f"scenarios[{scenario.name}].fleet: {err}") from err
