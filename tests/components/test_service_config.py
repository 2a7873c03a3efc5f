"""The services section: seed examples validate; each invalid config names its key path and the fix."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from components.config.services import (
    MIN_VLLM_VERSION,
    BackendPolicySpec,
    CustomMetricsBalancing,
    DrainSpec,
    GpuSupply,
    InFlightBalancing,
    ServicesConfig,
    pinned_image_problem,
    placement_problems,
)

GOLDEN = Path(__file__).parent / "golden" / "inference_service"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())


def errors_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted key path, message) for every error, the way the stack config reports them."""
    with pytest.raises(ValidationError) as caught:
        ServicesConfig.model_validate(data)
    return [(key_path(error["loc"]), error["msg"]) for error in caught.value.errors()]


def key_path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


@pytest.mark.parametrize("name", ["services_multi", "services_single", "services_routing"])
def test_golden_configs_validate(name: str) -> None:
    config = ServicesConfig.model_validate(load(name))
    assert config.pools


def test_defaults_follow_the_seeds() -> None:
    config = ServicesConfig.model_validate(load("services_multi"))
    pool = config.pools[0]
    assert (pool.port, pool.gpus_per_replica, pool.accelerator) == (8000, 1, "nvidia-h100-80gb")
    assert pool.drain.pre_stop_s == 30
    assert isinstance(config.backend_policy.balancing, CustomMetricsBalancing)
    assert config.backend_policy.balancing.max_utilization_percent == 60
    assert pool.served_model_names == ["meta-llama/Llama-3.1-8B-Instruct", "food-review-1"]


def test_no_balancing_mode_defaults_to_kv_cache_at_60_percent() -> None:
    balancing = BackendPolicySpec().balancing
    assert isinstance(balancing, CustomMetricsBalancing)
    assert (balancing.metric, balancing.max_utilization_percent) == ("kv-cache", 60)


def test_in_flight_mode_is_kept() -> None:
    config = ServicesConfig.model_validate(load("services_routing"))
    assert isinstance(config.backend_policy.balancing, InFlightBalancing)
    assert config.backend_policy.balancing.max_requests_per_endpoint == 1000


def test_drain_formula_reproduces_the_seed_walkthrough() -> None:
    # Google's single-cluster Inference Gateway tutorial: 4000 tokens at 10 ms = 40 s; +40 % prefill = 56 s; +30 s preStop = 86 s; +50 % = 129 s.
    assert DrainSpec(max_output_tokens=4000).termination_grace_period_s == 129
    # The default 4096-token budget rounds up rather than down.
    assert DrainSpec().termination_grace_period_s == 132
    assert (
        DrainSpec(pre_stop_s=0, safety_buffer_ratio=0, prefill_overhead_ratio=0).termination_grace_period_s
        == 41
    )


def mutate(base: str, path: list[str | int], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(load(base))
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


INVALID = [
    pytest.param(
        mutate("services_multi", ["objectives", 0, "pool"], "qwen3"),
        "objectives[0].pool",
        "unknown pool 'qwen3'",
        id="objective-unknown-pool",
    ),
    pytest.param(
        mutate(
            "services_multi",
            ["backendPolicy"],
            {"customMetrics": {}, "inFlight": {"maxRequestsPerEndpoint": 10}},
        ),
        "backendPolicy.inFlight",
        "mutually exclusive",
        id="both-balancing-modes",
    ),
    pytest.param(
        mutate("services_multi", ["backendPolicy", "customMetrics", "maxUtilizationPercent"], 0),
        "backendPolicy.customMetrics.maxUtilizationPercent",
        "1..100",
        id="utilization-zero",
    ),
    pytest.param(
        mutate("services_multi", ["backendPolicy", "customMetrics", "maxUtilizationPercent"], 101),
        "backendPolicy.customMetrics.maxUtilizationPercent",
        "1..100",
        id="utilization-over-100",
    ),
    pytest.param(
        mutate(
            "services_single",
            ["pools", 0, "lora", "adapters", 1],
            {"id": "food-review", "source": "someone/else"},
        ),
        "pools[0].lora.adapters[1].id",
        "already used by adapters[0]",
        id="duplicated-adapter",
    ),
    pytest.param(
        mutate("services_multi", ["backendPolicy", "timeoutSec"], 99),
        "backendPolicy.timeoutSec",
        "at least 2 x p99LatencySec (50); set it to 100 or more",
        id="timeout-below-2x-p99",
    ),
    pytest.param(
        mutate("services_routing", ["routes", 0, "backends", 1, "pool"], "llama-typo"),
        "routes[0].backends[1].pool",
        "unknown pool 'llama-typo'",
        id="route-unknown-pool",
    ),
    pytest.param(
        mutate("services_routing", ["routes", 0, "mirror", "pool"], "gone"),
        "routes[0].mirror.pool",
        "unknown pool 'gone'",
        id="mirror-unknown-pool",
    ),
    pytest.param(
        mutate("services_multi", ["pools", 0, "image"], "vllm/vllm-openai:latest"),
        "pools[0].image",
        "floating tag 'latest'",
        id="vllm-latest",
    ),
    pytest.param(
        mutate("services_multi", ["pools", 0, "image"], "vllm/vllm-openai:v0.8.5"),
        "pools[0].image",
        "vllm:kv_cache_usage_perc",
        id="vllm-too-old-for-kv-cache-metric",
    ),
    pytest.param(
        mutate("services_multi", ["pools", 0, "lora", "syncerImage"], "example/lora-syncer:main"),
        "pools[0].lora.syncerImage",
        "floating tag 'main'",
        id="syncer-main",
    ),
    pytest.param(
        mutate("services_multi", ["picker"], {"build": True}),
        "picker.build",
        "not permitted",
        id="picker-build-key-is-gone",
    ),
    pytest.param(
        mutate("services_multi", ["pools", 0, "replica"], 3),
        "pools[0].replica",
        "Extra inputs are not permitted",
        id="typo-key",
    ),
    pytest.param(
        mutate("services_multi", ["pools"], [load("services_multi")["pools"][0]] * 2),
        "pools[1].name",
        "used twice",
        id="duplicated-pool",
    ),
]


@pytest.mark.parametrize(("data", "key_path", "fix"), INVALID)
def test_invalid_config_names_key_and_fix(data: dict[str, Any], key_path: str, fix: str) -> None:
    errors = errors_of(data)
    assert any(path == key_path and fix in message for path, message in errors), errors


def test_every_issue_is_reported_at_once() -> None:
    data = mutate("services_multi", ["objectives"], [{"name": "a", "pool": "x"}, {"name": "b", "pool": "y"}])
    paths = [path for path, _ in errors_of(data)]
    assert paths == ["objectives[0].pool", "objectives[1].pool"]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("vllm/vllm-openai:v0.13.0", True),
        ("registry.example:5000/team/picker:0.1.0", True),
        ("ghcr.io/x/picker@sha256:" + "a" * 64, True),
        ("vllm/vllm-openai", False),
        ("registry.example:5000/team/picker", False),
        ("ghcr.io/x/picker:main", False),
        ("ghcr.io/x/picker:latest", False),
    ],
)
def test_pinned_image_problem(image: str, pinned: bool) -> None:
    assert (pinned_image_problem(image) is None) is pinned


def test_minimum_vllm_version_is_the_kv_cache_metric_release() -> None:
    assert MIN_VLLM_VERSION == (0, 10, 2)
    pool = ServicesConfig.model_validate(
        mutate("services_multi", ["pools", 0, "image"], "vllm/vllm-openai:v0.10.2")
    ).pools[0]
    assert pool.image.endswith("v0.10.2")


def test_default_routes() -> None:
    single = ServicesConfig.model_validate(load("services_single"))
    (route,) = single.effective_routes
    assert route.models == [] and [b.pool for b in route.backends] == ["vllm-llama3-1-8b-instruct"]
    assert not single.needs_body_based_routing

    two_pools = mutate("services_routing", ["routes"], [])
    routes = ServicesConfig.model_validate(two_pools).effective_routes
    assert [r.name for r in routes] == ["llama-stable", "llama-canary", "phi4-mini"]
    assert routes[2].models == ["microsoft/Phi-4-mini-instruct"]


# ---- stack-level placement checks (services against the clusters they land on) --------------------------


def test_placement_fits_the_seed_clusters() -> None:
    config = ServicesConfig.model_validate(load("services_multi"))
    gpus = {
        "gke-west": GpuSupply("nvidia-h100-80gb", 2, 3),
        "gke-east": GpuSupply("nvidia-h100-80gb", 2, 3),
    }
    assert list(placement_problems(config, multi_cluster=True, gpu_pools=gpus)) == []


@pytest.mark.parametrize(
    ("changes", "gpus", "multi", "expected_path", "fix"),
    [
        (
            {"gateway": {"gatewayClass": "gke-l7-rilb"}},
            {"gke-west": GpuSupply("nvidia-h100-80gb", 2, 3)},
            True,
            "services.gateway.gatewayClass",
            "remove this key",
        ),
        (
            {},
            {"gke-west": GpuSupply("nvidia-l4", 1, 3)},
            False,
            "services.pools[0].accelerator",
            "set accelerator: nvidia-l4",
        ),
        (
            {"pools": [{"name": "big", "model": "m", "gpusPerReplica": 4}], "objectives": []},
            {"gke-west": GpuSupply("nvidia-h100-80gb", 2, 3)},
            False,
            "services.pools[0].gpusPerReplica",
            "use at most 2",
        ),
        (
            # The guide's single cluster: 3 one-GPU replicas, one node with 2 GPUs.
            {"pools": [{"name": "llama", "model": "m", "replicas": 3}], "objectives": []},
            {"gke-central": GpuSupply("nvidia-h100-80gb", 2, 1)},
            False,
            "services.pools[0].replicas",
            "1 of 3 replicas (1 GPU each) find no GPU",
        ),
        (
            # 6 GPUs for 6 asked, but two nodes of 3: the third two-GPU replica finds 1 + 1 free GPUs.
            {
                "pools": [
                    {"name": "a", "model": "m", "replicas": 2, "gpusPerReplica": 2},
                    {"name": "b", "model": "m", "replicas": 1, "gpusPerReplica": 2},
                ],
                "objectives": [],
            },
            {"gke-central": GpuSupply("nvidia-h100-80gb", 3, 2)},
            False,
            "services.pools[0].replicas",
            "raise regions.gke-central.gpuPool.nodeCount",
        ),
        (
            {"pools": [{"name": "hpa", "model": "m", "autoscaling": {"maxReplicas": 4, "targetValue": 3}}],
             "objectives": []},
            {"gke-central": GpuSupply("nvidia-h100-80gb", 2, 1)},
            False,
            "services.pools[0].autoscaling.maxReplicas",
            "2 of 4 replicas",
        ),
    ],
    ids=[
        "gateway-class-on-multi-cluster",
        "accelerator-mismatch",
        "replica-larger-than-node",
        "more-replicas-than-gpus",
        "gpus-split-over-nodes",
        "autoscaling-maximum-above-supply",
    ],
)
def test_placement_problems(
    changes: dict[str, Any], gpus: dict[str, GpuSupply], multi: bool, expected_path: str, fix: str
) -> None:
    data = {**load("services_multi"), **changes}
    problems = [(key_path(loc), message) for loc, message in placement_problems(
        ServicesConfig.model_validate(data), multi_cluster=multi, gpu_pools=gpus
    )]  # fmt: skip
    assert any(path == expected_path and fix in message for path, message in problems), problems


def test_stack_validation_reports_service_problems_with_their_key(repo_root: Path) -> None:
    from components.config import ConfigError, validate_stack_config
    from components.config.sources import read_stack

    raw = read_stack("single", repo_root)
    services_key = f"{raw.project}:services"
    services = copy.deepcopy(raw.values[services_key])
    # Valid on its own, wrong for the stack: the single stack's GPU pool is H100.
    services["pools"][0]["accelerator"] = "nvidia-l4"
    broken = dataclasses.replace(raw, values={**raw.values, services_key: services})
    with pytest.raises(ConfigError) as caught:
        validate_stack_config(broken)
    report = "\n".join(str(problem) for problem in caught.value.problems)
    assert "services.pools[0].accelerator" in report and "set accelerator: nvidia-h100-80gb" in report


V010_GUIDE_CONFIG: dict[str, Any] = {
    "apiVersion": "llm-d.ai/v1alpha1",
    "kind": "EndpointPickerConfig",
    "featureGates": ["flowControl"],
    "plugins": [
        {"type": "token-load-scorer"},
        {"type": "inflight-load-producer"},
        {"type": "approx-prefix-cache-producer", "parameters": {"maxPrefixTokensToMatch": 40960}},
        {
            "type": "prefix-cache-affinity-filter",
            "parameters": {"affinityThreshold": 0.8, "maxTTFTPenaltyMs": 18000},
        },
    ],
    "schedulingProfiles": [
        {
            "name": "default",
            "plugins": [{"pluginRef": "prefix-cache-affinity-filter"}, {"pluginRef": "token-load-scorer"}],
        }
    ],
    "flowControl": {"maxRequests": 500, "priorityBands": [{"priority": 0}]},
}


def test_the_stack_takes_both_picker_config_generations_and_the_llm_d_profile() -> None:
    v010 = ServicesConfig.model_validate(
        mutate("services_multi", ["pools", 0, "picker"], {"config": V010_GUIDE_CONFIG})
    )
    assert "llm-d.ai/v1alpha1" in v010.pools[0].picker.config_text
    shipped = ServicesConfig.model_validate(
        mutate("services_multi", ["pools", 0, "picker"], {"profile": "llm-d-default"})
    )
    assert "prefix-cache-affinity-filter" in shipped.pools[0].picker.config_text
    v11 = copy.deepcopy(V010_GUIDE_CONFIG) | {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha1",
        "featureGates": [],
        "flowControl": {"enabled": True},
    }
    assert ServicesConfig.model_validate(
        mutate("services_multi", ["pools", 0, "picker"], {"config": v11})
    ).pools


def test_the_stack_rejects_a_key_v0_10_rejects_naming_it() -> None:
    config = copy.deepcopy(V010_GUIDE_CONFIG)
    config["plugins"][3]["parameters"]["maxTokensInFlightPenalty"] = 286720
    errors = errors_of(mutate("services_multi", ["pools", 0, "picker"], {"config": config}))
    assert errors == [
        (
            "pools[0].picker.config.plugins[3].parameters.maxTokensInFlightPenalty",
            "unknown key; remove it or fix its spelling",
        )
    ]
