"""Pure spec builders behind InferenceService: routes, policies, vLLM command, picker flags (no Pulumi runtime)."""

from __future__ import annotations

import pytest

from components.config.services import BackendPolicySpec, PoolSpec, RouteSpec
from components.config.services import GatewaySpec as GatewayConfig
from components.specs.model_server import lora_rollout_config, vllm_command
from components.specs.picker_workload import picker_args, picker_rbac_rules
from components.specs.traffic_specs import backend_policy_config, gateway_spec, route_rule


def route(**fields: object) -> RouteSpec:
    return RouteSpec.model_validate({"name": "r", "backends": [{"pool": "a"}], **fields})


@pytest.mark.parametrize(
    ("fields", "expected_weights"),
    [
        ({}, [None]),
        ({"backends": [{"pool": "a", "weight": 90}, {"pool": "b", "weight": 10}]}, [90, 10]),
        ({"backends": [{"pool": "a", "weight": 0}, {"pool": "b"}]}, [0, 1]),
    ],
    ids=["lone-backend-unweighted", "canary-90-10", "drained-backend"],
)
def test_route_weights(fields: dict[str, object], expected_weights: list[int | None]) -> None:
    rule = route_rule(route(**fields), multi_cluster=False)
    assert [ref.weight for ref in rule.backend_refs] == expected_weights


def test_multi_cluster_routes_point_at_pool_imports() -> None:
    rule = route_rule(route(mirror={"pool": "b"}), multi_cluster=True)
    assert {(ref.group, ref.kind) for ref in rule.backend_refs} == {
        ("networking.gke.io", "GCPInferencePoolImport")
    }
    assert rule.filters is not None
    mirror = rule.filters[0].request_mirror
    assert (mirror.backend_ref.kind, mirror.backend_ref.name, mirror.percent) == (
        "GCPInferencePoolImport",
        "b",
        None,
    )


def test_each_model_is_its_own_match() -> None:
    rule = route_rule(route(models=["m1", "m2"], pathPrefix="/v1"), multi_cluster=False)
    assert rule.matches is not None
    assert [(m.path.value, m.headers[0].value) for m in rule.matches] == [("/v1", "m1"), ("/v1", "m2")]


def test_single_cluster_gateway_has_no_addresses() -> None:
    spec = gateway_spec(GatewayConfig(gatewayClass="gke-l7-rilb"), multi_cluster=False, regions=["us-east4"])
    assert spec.addresses is None and spec.gateway_class_name == "gke-l7-rilb"


def test_backend_policy_without_logging() -> None:
    config = backend_policy_config(BackendPolicySpec(logging=False))
    assert config.logging is None and config.balancing_mode == "CUSTOM_METRICS"


def test_vllm_command_quotes_extra_args_and_sets_parallelism() -> None:
    pool = PoolSpec(
        name="p",
        model="org/model",
        gpus_per_replica=2,
        max_model_len=8192,
        extra_args=["--served-model-name", "a b"],
    )
    command = vllm_command(pool)
    assert "--tensor-parallel-size 2" in command and "--max-model-len 8192" in command
    assert command.endswith("--served-model-name 'a b'")


def test_lora_rollout_lists_every_adapter() -> None:
    pool = PoolSpec.model_validate(
        {
            "name": "p",
            "model": "m",
            "lora": {"adapters": [{"id": "x", "source": "o/x"}, {"id": "y", "source": "o/y"}]},
        }
    )
    models = lora_rollout_config(pool)["vLLMLoRAConfig"]["ensureExist"]["models"]
    assert models == [{"id": "x", "source": "o/x"}, {"id": "y", "source": "o/y"}]


def test_replicated_picker_elects_a_leader_and_may_use_leases() -> None:
    pool = PoolSpec.model_validate({"name": "p", "model": "m", "picker": {"replicas": 2}})
    assert "--ha-enable-leader-election" in picker_args(pool, "default")
    assert any("leases" in (rule.resources or []) for rule in picker_rbac_rules(pool))
    single = PoolSpec(name="p", model="m")
    assert "--ha-enable-leader-election" not in picker_args(single, "default")
    assert not any("leases" in (rule.resources or []) for rule in picker_rbac_rules(single))


def test_replicas_of_an_event_driven_picker_all_serve_and_approximate_ones_elect_a_leader() -> None:
    precise = PoolSpec.model_validate({"name": "p", "model": "m", "picker": {"replicas": 2, "profile": "precise"}})
    assert not precise.picker.elects_leader
    assert "--ha-enable-leader-election" not in picker_args(precise, "default")
    assert not any("leases" in (rule.resources or []) for rule in picker_rbac_rules(precise))
    standby = PoolSpec.model_validate(
        {"name": "p", "model": "m", "picker": {"replicas": 2, "profile": "precise", "haMode": "leader-election"}}
    )
    assert "--ha-enable-leader-election" in picker_args(standby, "default")


def test_active_active_with_approximate_prefix_state_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"(?s)picker.haMode.*active-active needs a config that routes on the model servers"):
        PoolSpec.model_validate(
            {"name": "p", "model": "m", "picker": {"replicas": 2, "haMode": "active-active"}}
        )


def test_picker_workers_become_the_flag_and_the_pods_cpu_request() -> None:
    from components.specs.picker_workload import picker_resources

    pool = PoolSpec.model_validate({"name": "p", "model": "m", "picker": {"workers": 4}})
    args = picker_args(pool, "default")
    assert args[args.index("--workers") + 1] == "4"
    assert picker_resources(pool).requests == {"cpu": "4", "memory": "2048Mi"}
    single = PoolSpec(name="p", model="m")
    assert "--workers" not in picker_args(single, "default")
    assert picker_resources(single).requests == {"cpu": "500m", "memory": "512Mi"}


def _picker(**picker: object) -> PoolSpec:
    return PoolSpec.model_validate({"name": "p", "model": "m", "picker": picker})


@pytest.mark.parametrize(
    ("picker", "active_active"),
    [
        ({"replicas": 2, "profile": "precise"}, True),
        ({"replicas": 3, "profile": "precise", "haMode": "active-active"}, True),
        ({"replicas": 1, "profile": "precise"}, False),
        ({"replicas": 1, "profile": "precise", "haMode": "active-active"}, False),
        ({"replicas": 2, "profile": "precise", "haMode": "leader-election"}, False),
        ({"replicas": 2, "profile": "recommended"}, False),
        ({"replicas": 1, "profile": "precise", "workers": 2}, False),
    ],
    ids=["precise-2", "precise-3-forced", "precise-1", "forced-1", "precise-leader", "approximate-2", "one-with-workers"],
)
def test_replicas_share_placements_exactly_when_they_all_serve(picker: dict[str, object], active_active: bool) -> None:
    from components.specs.picker_workload import picker_placement_port

    pool = _picker(**picker)
    assert pool.picker.active_active is active_active
    args = picker_args(pool, "serving")
    assert ("--placement-port" in args) is active_active
    assert ("--placement-peers" in args) is active_active
    assert picker_placement_port(pool) == (9004 if active_active else None)


def test_active_active_replicas_receive_on_9004_and_name_every_pod_by_the_headless_service() -> None:
    from picker.cli import parse_options

    args = picker_args(_picker(replicas=2, profile="precise"), "serving")
    assert args[args.index("--placement-port") + 1] == "9004"
    assert args[args.index("--placement-peers") + 1] == "p-epp-peers.serving.svc.cluster.local:9004"
    # The picker accepts the command line the stack renders (it is parsed, not just assembled).
    options = parse_options(args)
    assert options.placement_peer_list() == [("p-epp-peers.serving.svc.cluster.local", 9004)]
    assert not options.ha_enable_leader_election


def test_workers_with_active_active_replicas_are_refused_naming_the_keys_and_the_fix() -> None:
    with pytest.raises(ValueError) as raised:
        _picker(replicas=2, profile="precise", workers=2)
    message = str(raised.value)
    assert "picker.workers" in message
    assert "workers 2 with replicas 2 serving active-active" in message
    assert "Set workers: 1 and replicas: 4" in message and "haMode: leader-election" in message
    assert "6.7-8.3 (capacity-bound) hit-rate points" in message
    # The suggested replica count stays within the key's bound.
    with pytest.raises(ValueError, match="replicas: 10 "):
        _picker(replicas=6, profile="precise", workers=4)
    # Either fix is accepted.
    assert _picker(replicas=4, profile="precise").picker.active_active
    assert not _picker(replicas=2, profile="precise", workers=2, haMode="leader-election").picker.active_active


def test_an_active_active_pool_name_leaves_room_for_its_peers_service() -> None:
    from components.specs.picker_workload import picker_peers_name

    longest = PoolSpec.model_validate({"name": "p" * 53, "model": "m", "picker": {"replicas": 2, "profile": "precise"}})
    assert len(picker_peers_name(longest)) == 63
    with pytest.raises(ValueError, match=r"(?s)name.*54 characters: .*peers Service <name>-epp-peers.*at most 53"):
        PoolSpec.model_validate({"name": "p" * 54, "model": "m", "picker": {"replicas": 2, "profile": "precise"}})
    # A pool whose picker does not run active-active keeps the 59 characters.
    PoolSpec.model_validate({"name": "p" * 59, "model": "m", "picker": {"replicas": 2}})
