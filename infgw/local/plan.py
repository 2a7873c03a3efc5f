"""What the local gateway starts, read from a stack's rendered manifests (``infgw.plan.pool_wiring``): per
InferencePool its simulated replicas (the planned vLLM container's flags), its picker (the planned container's
args and mounted ConfigMap files), objectives, failure mode and the model names its routes send to it.

Nothing here reads the stack config: a value that reaches the local gateway reached the manifests first.
The local gateway changes only what one machine needs (documented in docs/local-gateway.md): each process
gets a free loopback port in place of its planned one, mounted files live in the work folder, the picker
discovers its pool from a file instead of the Kubernetes API, and the LoRA syncer's adapters are passed to
the simulator at start.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from infgw.plan.pool_wiring import Body, ClusterWiring, PoolWiring, cluster_wiring


class LocalPlanError(ValueError):
    """The manifests cannot be served locally; the message names the object and the fix."""


class ReplicaPlan(BaseModel):
    """One `python -m sim` process: the planned vLLM flags, the syncer's adapters, simulator-only settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    server_args: tuple[str, ...] = Field(description="vLLM's flags from the planned container.")
    adapters: tuple[tuple[str, str], ...] = Field(description="(id, source) the LoRA syncer would load.")
    sim_config: dict[str, Any] = Field(description="Simulator-only keys (seed, profile, faults).")


class PickerPlan(BaseModel):
    """The planned picker container: its args and the files mounted into it (path -> text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    args: tuple[str, ...]
    files: dict[str, str]
    secret_dirs: tuple[str, ...] = Field(description="Mounted Secret volumes; locally filled with a fresh token.")
    replicas: int

    @property
    def config_text(self) -> str | None:
        from infgw.plan.pool_wiring import flag_value

        path = flag_value(self.args, "--config-file")
        return self.files.get(path) if path else None


class PoolPlan(BaseModel):
    """One InferencePool served locally: replicas, its picker, and how Envoy reaches them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    adapters: tuple[str, ...]
    replicas: tuple[ReplicaPlan, ...]
    objectives: dict[str, int] = Field(description="InferenceObjective name -> priority (< 0 is sheddable).")
    picker: PickerPlan
    fail_open: bool
    model_names: tuple[str, ...] = Field(description="Body `model` values Envoy routes to this pool.")
    target_port: int = Field(description="The InferencePool's targetPort (the planned vLLM --port).")

    @property
    def sample_completion_model(self) -> str:
        """The guide asks an adapter (food-review-1); a pool without adapters is asked its base model."""
        return self.adapters[0] if self.adapters else self.model


class LocalPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack: str
    pools: tuple[PoolPlan, ...]
    default_pool: str = Field(description="Pool for requests that name no (known) model, e.g. GET /v1/models.")
    route_timeout_s: float = Field(description="Whole-request timeout: the GCPBackendPolicy's timeoutSec.")
    warnings: tuple[str, ...] = ()

    def pool(self, name: str) -> PoolPlan:
        return next(pool for pool in self.pools if pool.name == name)


# A route with no GCPBackendPolicy: GKE's load balancer default backend timeout.
DEFAULT_ROUTE_TIMEOUT_S = 30.0


def _replica_count(pool: PoolWiring, replicas_cap: int | None) -> int:
    count = pool.model_server.replicas  # an HPA-managed Deployment renders none: Kubernetes starts 1
    if replicas_cap is not None:
        count = min(count, replicas_cap)
    # A pool with no replica could only answer 503; locally every pool gets at least one.
    return max(1, count)


def _fallback_warning(index: int, pool: PoolWiring, count: int, picker: PickerPlan) -> str | None:
    """A pool whose picker returns one endpoint leaves Envoy nothing to retry when that replica dies."""
    from picker.preflight import ConfigError, check_config_text

    if count < 2 or picker.config_text is None:
        return None
    try:
        config = check_config_text(picker.config_text)
    except ConfigError:
        return None  # the rehearsal and the picker itself report it
    counts = [
        int(plugin.parameters.get("maxNumOfEndpoints", 1))
        for plugin in config.plugins
        if plugin.type in {"max-score-picker", "random-picker", "weighted-random-picker"}
    ]
    if min(counts, default=1) > 1:
        return None
    return (
        f"pool {pool.name}: its picker returns one endpoint per request (maxNumOfEndpoints 1), so Envoy has no "
        "fallback to retry when that replica dies; the recommended profile asks for 3"
    )


def local_plan(
    wiring: ClusterWiring,
    *,
    stack: str,
    replicas_cap: int | None = None,
    seed: int = 0,
    sim_overrides: dict[str, Any] | None = None,
) -> LocalPlan:
    """The processes `infgw local` starts for one cluster's wiring."""
    if replicas_cap is not None and replicas_cap < 1:
        raise LocalPlanError(f"--replicas must be at least 1 (got {replicas_cap})")
    if not wiring.pools:
        raise LocalPlanError("the rendered manifests hold no InferencePool, so there is nothing to serve")
    overrides = dict(sim_overrides or {})
    warnings = list(wiring.warnings)
    pools: list[PoolPlan] = []
    for pool_index, pool in enumerate(wiring.pools):
        count = _replica_count(pool, replicas_cap)
        replicas = tuple(
            ReplicaPlan(
                name=f"{pool.name}-{index}",
                server_args=pool.server_args,
                adapters=pool.adapters,
                # Distinct seeds: identical replicas would draw identical output lengths in lockstep.
                sim_config={"seed": seed * 1000 + pool_index * 100 + index, **overrides},
            )
            for index in range(count)
        )
        picker = PickerPlan(
            args=pool.picker_args,
            files=dict(pool.picker_files),
            secret_dirs=pool.picker_secret_dirs,
            replicas=pool.picker.replicas,
        )
        if (warning := _fallback_warning(pool_index, pool, count, picker)) is not None:
            warnings.append(warning)
        pools.append(
            PoolPlan(
                name=pool.name,
                model=pool.model,
                adapters=tuple(adapter for adapter, _ in pool.adapters),
                replicas=replicas,
                objectives=dict(pool.objectives),
                picker=picker,
                fail_open=pool.failure_mode == "FailOpen",
                model_names=pool.model_names,
                target_port=pool.target_port,
            )
        )
    return LocalPlan(
        stack=stack,
        pools=tuple(pools),
        default_pool=wiring.default_pool or wiring.pools[0].name,
        route_timeout_s=wiring.route_timeout_s or DEFAULT_ROUTE_TIMEOUT_S,
        warnings=tuple(warnings),
    )


def local_plan_from_objects(objects: Iterable[Body], **options: Any) -> LocalPlan:
    """`local_plan` over rendered objects; a break in a pool's wiring becomes a LocalPlanError."""
    from infgw.plan.pool_wiring import WiringError

    try:
        wiring = cluster_wiring(objects)
    except WiringError as error:
        raise LocalPlanError(str(error)) from None
    return local_plan(wiring, **options)
