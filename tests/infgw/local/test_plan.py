"""Rendered manifests -> local process plan: replicas with the planned vLLM flags, the picker's planned
args and ConfigMap, adapters from the LoRA syncer's file, objectives, routing by model name."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from local_gateway_stacks import LLAMA, QWEN, TWO_POOL_SERVICES, load_stack, render_services
from picker.profiles import profile_text

from components.config.services import ServicesConfig
from infgw.local.plan import LocalPlan, LocalPlanError, local_plan_from_objects
from infgw.plan.pool_wiring import flag_value


def plan_for(pulumi_mocks: Any, services: ServicesConfig, multi: bool = False, **options: Any) -> LocalPlan:
    objects = render_services(pulumi_mocks, services, multi=multi)
    return local_plan_from_objects(objects, **{"stack": "t", **options})


def two_pool(**changes: object) -> ServicesConfig:
    return ServicesConfig.model_validate(copy.deepcopy(TWO_POOL_SERVICES) | changes)


def test_dev_stack_serves_the_guides_pool_as_rendered(pulumi_mocks: Any, repo_root: Path) -> None:
    services = load_stack(repo_root, "dev").services
    assert services is not None
    plan = plan_for(pulumi_mocks, services, multi=True)

    (pool,) = plan.pools
    assert pool.name == "vllm-llama3-8b-instruct"
    assert [replica.name for replica in pool.replicas] == [f"{pool.name}-{i}" for i in range(3)]
    assert pool.adapters == ("food-review-1",)
    assert pool.sample_completion_model == "food-review-1"  # the guide asks the adapter
    assert pool.objectives == {"food-review": 10}
    assert not pool.fail_open
    assert set(pool.model_names) == {LLAMA, "food-review-1"}
    assert plan.route_timeout_s == 100.0  # the GCPBackendPolicy's timeoutSec
    assert pool.target_port == 8000
    replica = pool.replicas[0]
    # The planned vLLM flags, as the container runs them.
    assert replica.server_args[:2] == ("--model", LLAMA)
    assert flag_value(replica.server_args, "--max-loras") == "2"
    assert flag_value(replica.server_args, "--max-num-seqs") == "1024"
    assert replica.adapters == (("food-review-1", "Kawon/llama3.1-food-finetune_v14_r8"),)
    # The planned picker: its args and its ConfigMap, byte for byte (the stack's recommended profile).
    assert flag_value(pool.picker.args, "--pool-name") == pool.name
    assert pool.picker.config_text == profile_text("recommended")
    assert pool.picker.secret_dirs == ("/var/run/secrets/metrics-reader",)


def test_single_stack_names_both_adapters(pulumi_mocks: Any, repo_root: Path) -> None:
    services = load_stack(repo_root, "single").services
    assert services is not None
    (pool,) = plan_for(pulumi_mocks, services).pools
    assert pool.adapters == ("food-review", "cad-fabricator")
    assert pool.objectives == {"food-review": 10, "llama3-base-model": 20}
    assert len(pool.replicas) == 2


def test_replicas_cap_limits_every_pool_but_keeps_one(pulumi_mocks: Any) -> None:
    objects = render_services(pulumi_mocks, two_pool())
    plan = local_plan_from_objects(objects, stack="t", replicas_cap=1)
    assert [len(pool.replicas) for pool in plan.pools] == [1, 1]
    uncapped = local_plan_from_objects(objects, stack="t", replicas_cap=5)
    assert [len(pool.replicas) for pool in uncapped.pools] == [2, 1]
    with pytest.raises(LocalPlanError, match="--replicas must be at least 1"):
        local_plan_from_objects(objects, stack="t", replicas_cap=0)


def test_an_autoscaled_pool_starts_as_kubernetes_starts_it(pulumi_mocks: Any) -> None:
    """The HPA owns the count, so the Deployment renders none and Kubernetes starts one replica."""
    document = copy.deepcopy(TWO_POOL_SERVICES)
    document["pools"][1] |= {"autoscaling": {"minReplicas": 2, "maxReplicas": 2, "targetValue": 5}}
    plan = plan_for(pulumi_mocks, ServicesConfig.model_validate(document))
    assert len(plan.pool("qwen").replicas) == 1


def test_replica_seeds_differ_follow_the_seed_and_overrides_reach_every_replica(pulumi_mocks: Any) -> None:
    objects = render_services(pulumi_mocks, two_pool())
    plan = local_plan_from_objects(objects, stack="t", seed=7, sim_overrides={"profile": "zero-latency"})
    seeds = [replica.sim_config["seed"] for pool in plan.pools for replica in pool.replicas]
    assert len(set(seeds)) == len(seeds)
    again = local_plan_from_objects(objects, stack="t", seed=7)
    assert seeds == [replica.sim_config["seed"] for pool in again.pools for replica in pool.replicas]
    assert all(r.sim_config["profile"] == "zero-latency" for p in plan.pools for r in p.replicas)


def test_models_route_to_their_pool_and_adapters_to_their_base_pool(pulumi_mocks: Any) -> None:
    plan = plan_for(pulumi_mocks, two_pool())
    assert plan.pool("llama").model_names == tuple(sorted((LLAMA, "food-review-1")))
    assert plan.pool("qwen").model_names == (QWEN,)
    assert plan.pool("qwen").fail_open
    assert plan.pool("llama").objectives == {"critical": 10, "batch": -1}
    assert plan.pool("qwen").objectives == {}


def test_a_picker_returning_one_endpoint_gets_a_note_for_multi_replica_pools(pulumi_mocks: Any) -> None:
    document = copy.deepcopy(TWO_POOL_SERVICES)
    for pool in document["pools"]:
        pool["picker"] = {"profile": "default"}  # the EPP's: one endpoint, no fallback
    plan = plan_for(pulumi_mocks, ServicesConfig.model_validate(document))
    notes = [warning for warning in plan.warnings if "maxNumOfEndpoints 1" in warning]
    assert len(notes) == 1 and "pool llama" in notes[0]  # qwen has one replica: no fallback to lose
    assert not plan_for(pulumi_mocks, two_pool()).warnings  # the recommended profile asks for 3


def test_weighted_route_goes_to_heaviest_backend_with_a_note(pulumi_mocks: Any) -> None:
    routes = [
        {
            "name": "split",
            "models": [LLAMA],
            "backends": [{"pool": "llama", "weight": 90}, {"pool": "qwen", "weight": 10}],
            "mirror": {"pool": "qwen", "percent": 5},
        }
    ]
    plan = plan_for(pulumi_mocks, two_pool(routes=routes))
    assert LLAMA in plan.pool("llama").model_names
    assert any("heaviest backend, llama" in warning for warning in plan.warnings)
    assert any("mirrors traffic" in warning for warning in plan.warnings)


def test_route_to_a_pool_that_does_not_serve_the_model_is_an_error(pulumi_mocks: Any) -> None:
    routes = [{"name": "wrong", "models": [LLAMA], "backends": [{"pool": "qwen"}]}]
    with pytest.raises(LocalPlanError, match=r"sends model 'meta-llama/Llama-3.1-8B-Instruct' to pool 'qwen'"):
        plan_for(pulumi_mocks, two_pool(routes=routes))


def test_catch_all_route_chooses_the_default_pool(pulumi_mocks: Any) -> None:
    routes = [
        {"name": "llama-models", "models": [LLAMA], "backends": [{"pool": "llama"}]},
        {"name": "everything-else", "pathPrefix": "/v1", "backends": [{"pool": "qwen"}]},
    ]
    plan = plan_for(pulumi_mocks, two_pool(routes=routes))
    assert plan.default_pool == "qwen"
    assert any("matches path /v1" in warning for warning in plan.warnings)
    # Names no route lists still reach the pool serving them.
    assert "food-review-1" in plan.pool("llama").model_names


def test_a_break_in_the_wiring_is_refused_with_the_objects_named(pulumi_mocks: Any) -> None:
    objects = render_services(pulumi_mocks, two_pool())
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "llama-epp"]
    service["spec"]["ports"][0]["targetPort"] = "metrics-typo"
    with pytest.raises(LocalPlanError, match="Service llama-epp: port 9002 targets 'metrics-typo'"):
        local_plan_from_objects(objects, stack="t")
