"""Stack config -> local process plan: replicas per pool, adapters, objectives, routing by model name."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from local_gateway_stacks import LLAMA, QWEN, TWO_POOL_SERVICES, load_stack

from components.service_config import ServicesConfig
from infgw.local.plan import LocalPlanError, build_local_plan


def services(**changes: object) -> ServicesConfig:
    document = copy.deepcopy(TWO_POOL_SERVICES) | changes
    return ServicesConfig.model_validate(document)


def test_dev_stack_serves_seed_000_pool(repo_root: Path) -> None:
    stack = load_stack(repo_root, "dev")
    assert stack.services is not None
    plan = build_local_plan(stack.services, stack="dev")

    (pool,) = plan.pools
    assert pool.name == "vllm-llama3-8b-instruct"
    assert [replica.name for replica in pool.replicas] == [f"{pool.name}-{i}" for i in range(3)]
    assert pool.adapters == ("food-review-1",)
    assert pool.sample_completion_model == "food-review-1"  # seed 000 asks the adapter
    assert pool.objectives == {"food-review": 10}
    assert not pool.fail_open
    assert set(pool.model_names) == {"meta-llama/Llama-3.1-8B-Instruct", "food-review-1"}
    assert plan.route_timeout_s == 100.0  # backendPolicy.timeoutSec
    sim = pool.replicas[0].sim_config
    assert sim["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert sim["lora_modules"] == [{"name": "food-review-1", "path": "Kawon/llama3.1-food-finetune_v14_r8"}]
    assert sim["max_loras"] == 2


def test_single_stack_names_both_adapters(repo_root: Path) -> None:
    stack = load_stack(repo_root, "single")
    assert stack.services is not None
    (pool,) = build_local_plan(stack.services, stack="single").pools
    assert pool.adapters == ("food-review", "cad-fabricator")
    assert pool.objectives == {"food-review": 10, "llama3-base-model": 20}


def test_replicas_cap_limits_every_pool_but_keeps_one() -> None:
    plan = build_local_plan(services(), stack="t", replicas_cap=1)
    assert [len(pool.replicas) for pool in plan.pools] == [1, 1]
    uncapped = build_local_plan(services(), stack="t", replicas_cap=5)
    assert [len(pool.replicas) for pool in uncapped.pools] == [2, 1]


def test_zero_replicas_still_serve_locally_from_autoscaling_minimum() -> None:
    document = copy.deepcopy(TWO_POOL_SERVICES)
    document["pools"][1] |= {
        "replicas": 0,
        "autoscaling": {"minReplicas": 2, "maxReplicas": 4, "targetValue": 5},
    }
    plan = build_local_plan(ServicesConfig.model_validate(document), stack="t")
    assert len(plan.pool("qwen").replicas) == 2
    document["pools"][1].pop("autoscaling")
    plan = build_local_plan(ServicesConfig.model_validate(document), stack="t")
    assert len(plan.pool("qwen").replicas) == 1


def test_bad_replicas_cap_is_an_error() -> None:
    with pytest.raises(LocalPlanError, match="--replicas must be at least 1"):
        build_local_plan(services(), stack="t", replicas_cap=0)


def test_replica_seeds_differ_and_follow_the_seed() -> None:
    plan = build_local_plan(services(), stack="t", seed=7)
    seeds = [replica.sim_config["seed"] for pool in plan.pools for replica in pool.replicas]
    assert len(set(seeds)) == len(seeds)
    again = build_local_plan(services(), stack="t", seed=7)
    assert seeds == [replica.sim_config["seed"] for pool in again.pools for replica in pool.replicas]


def test_models_route_to_their_pool_and_adapters_to_their_base_pool() -> None:
    plan = build_local_plan(services(), stack="t")
    assert plan.pool("llama").model_names == tuple(sorted((LLAMA, "food-review-1")))
    assert plan.pool("qwen").model_names == (QWEN,)
    assert plan.default_pool == "llama"
    assert plan.pool("qwen").fail_open
    assert plan.pool("llama").objectives == {"critical": 10, "batch": -1}
    assert plan.pool("qwen").objectives == {}


def test_sim_overrides_reach_every_replica() -> None:
    plan = build_local_plan(
        services(), stack="t", sim_overrides={"max_num_seqs": 4, "profile": "zero-latency"}
    )
    for pool in plan.pools:
        for replica in pool.replicas:
            assert replica.sim_config["max_num_seqs"] == 4
            assert replica.sim_config["profile"] == "zero-latency"


def test_picker_config_is_the_pools_endpoint_picker_config() -> None:
    plan = build_local_plan(services(), stack="t")
    config = plan.pool("llama").picker_config
    assert config["kind"] == "EndpointPickerConfig"
    assert {plugin["type"] for plugin in config["plugins"]} >= {"queue-scorer", "prefix-cache-scorer"}


def test_pickers_ask_for_fallbacks_unless_the_stack_sets_the_count() -> None:
    plan = build_local_plan(services(), stack="t")
    for pool in plan.pools:
        (picker,) = [p for p in pool.picker_config["plugins"] if p["type"] == "max-score-picker"]
        assert picker["parameters"] == {"maxNumOfEndpoints": 3}
    assert not any("maxNumOfEndpoints" in warning for warning in plan.warnings)


def test_a_stack_asking_for_one_endpoint_keeps_it_with_a_note_for_multi_replica_pools() -> None:
    document = copy.deepcopy(TWO_POOL_SERVICES)
    one_endpoint = {
        "plugins": [
            {"type": "queue-scorer"},
            {"type": "max-score-picker", "parameters": {"maxNumOfEndpoints": 1}},
        ],
        "schedulingProfiles": [
            {"name": "default", "plugins": [{"pluginRef": "queue-scorer"}, {"pluginRef": "max-score-picker"}]}
        ],
    }
    for pool in document["pools"]:
        pool["picker"] = {"config": one_endpoint}
    plan = build_local_plan(ServicesConfig.model_validate(document), stack="t")
    for pool in plan.pools:
        (picker,) = [p for p in pool.picker_config["plugins"] if p["type"] == "max-score-picker"]
        assert picker["parameters"] == {"maxNumOfEndpoints": 1}
    notes = [warning for warning in plan.warnings if "maxNumOfEndpoints" in warning]
    assert len(notes) == 1 and "(llama)" in notes[0]  # qwen has one replica: no fallback to lose


def test_weighted_route_goes_to_heaviest_backend_with_a_note() -> None:
    routes = [
        {
            "name": "split",
            "models": [LLAMA],
            "backends": [{"pool": "llama", "weight": 90}, {"pool": "qwen", "weight": 10}],
            "mirror": {"pool": "qwen", "percent": 5},
        }
    ]
    plan = build_local_plan(services(routes=routes), stack="t")
    assert LLAMA in plan.pool("llama").model_names
    assert any("heaviest backend, llama" in warning for warning in plan.warnings)
    assert any("mirrors traffic" in warning for warning in plan.warnings)


def test_route_to_a_pool_that_does_not_serve_the_model_is_an_error() -> None:
    routes = [{"name": "wrong", "models": [LLAMA], "backends": [{"pool": "qwen"}]}]
    with pytest.raises(
        LocalPlanError, match=r"sends model 'meta-llama/Llama-3.1-8B-Instruct' to pool 'qwen'"
    ):
        build_local_plan(services(routes=routes), stack="t")


def test_catch_all_route_chooses_the_default_pool() -> None:
    routes = [
        {"name": "llama-models", "models": [LLAMA], "backends": [{"pool": "llama"}]},
        {"name": "everything-else", "pathPrefix": "/v1", "backends": [{"pool": "qwen"}]},
    ]
    plan = build_local_plan(services(routes=routes), stack="t")
    assert plan.default_pool == "qwen"
    assert any("pathPrefix /v1" in warning for warning in plan.warnings)
    # Names no route lists still reach the pool serving them.
    assert "food-review-1" in plan.pool("llama").model_names
