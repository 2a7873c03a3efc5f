"""What the local gateway starts, derived from a stack's `services` section: per pool its simulated
replicas, its picker (objectives, EndpointPickerConfig, failure mode) and the model names it serves."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.service_config import PoolSpec, RouteSpec, ServicesConfig
from infgw.local.picker_fallbacks import endpoints_per_request, with_fallback_endpoints

SEED_PROMPT = "What is the best pizza in the world?"  # seed 000's test request
SEED_MAX_TOKENS = 100


class LocalPlanError(ValueError):
    """The stack config cannot be served locally; the message names the key and the fix."""


class ReplicaPlan(BaseModel):
    """One `python -m sim` process."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    sim_config: dict[str, Any] = Field(description="SimConfig keys, written to the replica's YAML file.")


class PoolPlan(BaseModel):
    """One InferencePool served locally: replicas, one picker, and how Envoy reaches them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    adapters: tuple[str, ...]
    replicas: tuple[ReplicaPlan, ...]
    objectives: dict[str, int] = Field(description="InferenceObjective name -> priority (< 0 is sheddable).")
    picker_config: dict[str, Any] = Field(
        description="The pool's EndpointPickerConfig, as the picker reads it, asking for fallback "
        "endpoints where the stack leaves maxNumOfEndpoints unset (picker_fallbacks.py)."
    )
    fail_open: bool
    model_names: tuple[str, ...] = Field(description="Body `model` values Envoy routes to this pool.")

    @property
    def sample_completion_model(self) -> str:
        """Seed 000 asks an adapter (food-review-1); a pool without adapters is asked its base model."""
        return self.adapters[0] if self.adapters else self.model


class LocalPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack: str
    pools: tuple[PoolPlan, ...]
    default_pool: str = Field(
        description="Pool for requests that name no (known) model, e.g. GET /v1/models."
    )
    route_timeout_s: float = Field(description="Whole-request timeout: backendPolicy.timeoutSec.")
    warnings: tuple[str, ...] = ()

    def pool(self, name: str) -> PoolPlan:
        return next(pool for pool in self.pools if pool.name == name)


def _replica_count(pool: PoolSpec, replicas_cap: int | None) -> int:
    configured = pool.replicas
    if configured == 0 and pool.autoscaling is not None:
        configured = pool.autoscaling.min_replicas
    if replicas_cap is not None:
        configured = min(configured, replicas_cap)
    # A pool with no replica could only answer 503; locally every pool gets at least one.
    return max(1, configured)


def _sim_config(pool: PoolSpec, replica_name: str, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model": pool.model,
        "name": replica_name,
        "seed": seed,
    }
    if pool.lora is not None and pool.lora.adapters:
        config["lora_modules"] = [
            {"name": adapter.id, "path": adapter.source} for adapter in pool.lora.adapters
        ]
        config["max_loras"] = pool.lora.max_loras
    if pool.max_model_len is not None:
        config["max_model_len"] = pool.max_model_len
    return config | overrides


def _route_models(routes: list[RouteSpec], pools: list[PoolSpec]) -> tuple[dict[str, str], list[str]]:
    """Model name -> pool, from the routes' model matches (the gateway's BBR header routes)."""
    by_model: dict[str, str] = {}
    warnings: list[str] = []
    for index, route in enumerate(routes):
        heaviest = max(route.backends, key=lambda backend: backend.weight)
        if len(route.backends) > 1:
            warnings.append(
                f"services.routes[{index}] ({route.name}) splits traffic over "
                f"{', '.join(b.pool for b in route.backends)}; locally all of it goes to the heaviest "
                f"backend, {heaviest.pool}"
            )
        if route.mirror is not None:
            warnings.append(
                f"services.routes[{index}] ({route.name}) mirrors traffic; the local gateway does not"
            )
        if route.path_prefix != "/":
            warnings.append(
                f"services.routes[{index}] ({route.name}) matches pathPrefix {route.path_prefix}; locally every "
                "path is routed by model name"
            )
        for model in route.models:
            by_model.setdefault(model, heaviest.pool)
    # Every served name (base model and adapters) reaches its own pool even without an explicit route:
    # adapters map to their base pool, as the picker needs to see them.
    for pool in pools:
        for model in pool.served_model_names:
            by_model.setdefault(model, pool.name)
    return by_model, warnings


def _default_pool(services: ServicesConfig) -> str:
    """Where requests naming no routed model go: a catch-all route's (no `models`) heaviest backend, else
    the first pool."""
    for route in services.effective_routes:
        if not route.models:
            return max(route.backends, key=lambda backend: backend.weight).pool
    return services.pools[0].name


def build_local_plan(
    services: ServicesConfig,
    *,
    stack: str,
    replicas_cap: int | None = None,
    seed: int = 0,
    sim_overrides: dict[str, Any] | None = None,
) -> LocalPlan:
    """The processes `infgw local` starts for `services`.

    Raises:
        LocalPlanError: when a route sends a model to a pool that does not serve it.
    """
    if replicas_cap is not None and replicas_cap < 1:
        raise LocalPlanError(f"--replicas must be at least 1 (got {replicas_cap})")
    overrides = dict(sim_overrides or {})
    by_model, warnings = _route_models(services.effective_routes, services.pools)

    pools: list[PoolPlan] = []
    for pool_index, pool in enumerate(services.pools):
        count = _replica_count(pool, replicas_cap)
        replicas = tuple(
            ReplicaPlan(
                name=f"{pool.name}-{index}",
                # Distinct seeds: identical replicas would draw identical output lengths in lockstep.
                sim_config=_sim_config(
                    pool, f"{pool.name}-{index}", seed * 1000 + pool_index * 100 + index, overrides
                ),
            )
            for index in range(count)
        )
        adapters = tuple(adapter.id for adapter in (pool.lora.adapters if pool.lora else []))
        picker_config = with_fallback_endpoints(pool.picker.config.to_wire())
        if count > 1 and endpoints_per_request(picker_config) == 1:
            warnings.append(
                f"services.pools[{pool_index}] ({pool.name}) sets its picker's maxNumOfEndpoints to 1: Envoy "
                "has no fallback to retry, so a request whose replica dies is lost; leave it unset (locally "
                "3) or raise it"
            )
        pools.append(
            PoolPlan(
                name=pool.name,
                model=pool.model,
                adapters=adapters,
                replicas=replicas,
                objectives={o.name: o.priority for o in services.objectives if o.pool == pool.name},
                picker_config=picker_config,
                fail_open=pool.failure_mode == "FailOpen",
                model_names=tuple(sorted(model for model, target in by_model.items() if target == pool.name)),
            )
        )
    for model, target in by_model.items():
        served = services.pool(target).served_model_names
        if model not in served:
            raise LocalPlanError(
                f"services.routes sends model {model!r} to pool {target!r}, which serves {served}; add it "
                f"as a LoRA adapter of {target!r} (pools[].lora.adapters) or route it to the pool serving it"
            )
    return LocalPlan(
        stack=stack,
        pools=tuple(pools),
        default_pool=_default_pool(services),
        route_timeout_s=float(services.backend_policy.timeout_s),
        warnings=tuple(warnings),
    )
