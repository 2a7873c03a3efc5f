"""BenchConfig validation, presets, and the target registry."""

from __future__ import annotations

import pytest
import typer
import yaml
from bench.cli import load_config
from bench.config import BenchConfig, FleetSpec, Scenario
from bench.fleet import replica_config
from bench.targets import DEFAULT_TARGETS, PRECISE_VARIANTS, build_targets, resolve_target_names
from bench.targets.envoy_baseline import with_lb_policy
from pydantic import ValidationError


@pytest.mark.parametrize("preset", ["quick", "standard", "full"])
def test_presets_validate_and_name_known_targets(preset):
    config, source = load_config(None, preset)
    assert source == f"preset {preset}"
    known = build_targets()
    names = resolve_target_names(list(config.targets), known)
    resolve_target_names(list(config.overhead.targets), known)
    # The full preset runs every target on the headline, standard every one but the precise profile's option
    # variants; quick leaves out more.
    if preset == "full":
        assert names == list(DEFAULT_TARGETS)
    elif preset == "standard":
        assert names == [name for name in DEFAULT_TARGETS if name not in PRECISE_VARIANTS]
    else:
        assert set(names) <= set(DEFAULT_TARGETS)
    for scenario in config.scenarios:
        config.fleet_for(scenario)  # scenario overrides must still make a valid fleet


def test_standard_preset_keeps_every_scored_comparison_with_enough_requests_for_a_p90():
    standard, _ = load_config(None, "standard")
    full, _ = load_config(None, "full")
    by_name = {s.name: s for s in standard.scenarios}
    full_by_name = {s.name: s for s in full.scenarios}
    # The comparisons docs/benchmarks.md scores, as (scenario, target, baseline target).
    scored = [("shared-prefix-chat", "picker-recommended", "envoy-round-robin"),
              ("no-sharing", "picker-recommended", "envoy-least-request"),
              ("dominant-prefix", "picker-recommended", "envoy-round-robin"),
              ("priority-mix", "picker-recommended", "envoy-round-robin"),
              ("priority-mix-unloaded", "picker-recommended", "picker-recommended")]
    for scenario_name, target, baseline in scored:
        targets = standard.targets_for(by_name[scenario_name])
        assert target in targets and baseline in targets, scenario_name
    for scenario in standard.scenarios:
        # Same requests and fleet as the published form, only fewer of them.
        reference = full_by_name[scenario.name]
        assert scenario.workload == reference.workload and scenario.fleet == reference.fleet, scenario.name
        assert scenario.load.rate_rps * scenario.load.duration_s >= 60, scenario.name
    assert standard.targets_for(by_name["shared-prefix-chat"]) == list(standard.targets)
    assert not set(PRECISE_VARIANTS) & {name for s in standard.scenarios for name in standard.targets_for(s)}


def test_unknown_preset_is_an_error_naming_the_known_ones():
    with pytest.raises(typer.BadParameter, match="standard"):
        load_config(None, "medium")


def test_fleet_rejects_a_context_larger_than_the_kv_cache():
    with pytest.raises(ValidationError, match="max_model_len"):
        FleetSpec(num_gpu_blocks=10, block_size=16, max_model_len=1000)


def test_unknown_keys_and_duplicate_scenarios_are_errors():
    scenario = {"name": "a", "workload": {"kind": "no-sharing"}, "load": {"kind": "open", "rate_rps": 1}}
    with pytest.raises(ValidationError, match="repeated"):
        BenchConfig(scenarios=[scenario, scenario], targets=["direct"])
    with pytest.raises(ValidationError, match="extra"):
        BenchConfig.model_validate({"scenarios": [scenario], "targets": ["direct"], "seeed": 3})


def test_bad_config_file_names_the_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"targets": ["direct"], "scenarios": [
        {"name": "x", "workload": {"kind": "no-sharing"}, "load": {"kind": "open", "rate_rps": -1}}]}))
    with pytest.raises(Exception, match="rate_rps"):
        load_config(path, "standard")


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(ValueError, match="known:"):
        resolve_target_names(["nginx"], build_targets())


def test_least_request_is_applied_to_the_static_pool_only():
    bootstrap = {"static_resources": {"clusters": [
        {"name": "picker", "type": "STRICT_DNS", "lb_policy": "ROUND_ROBIN"},
        {"name": "pool", "type": "STATIC", "lb_policy": "ROUND_ROBIN", "load_assignment": {}},
    ]}}
    clusters = with_lb_policy(bootstrap, "LEAST_REQUEST")["static_resources"]["clusters"]
    assert [c["lb_policy"] for c in clusters] == ["ROUND_ROBIN", "LEAST_REQUEST"]


def test_replica_configs_differ_only_in_name_port_and_seed():
    spec = FleetSpec(lora_modules=["a"], max_loras=1)
    first, second = replica_config(spec, 0, 1000, seed=3), replica_config(spec, 1, 1001, seed=3)
    differing = {k for k in first if first[k] != second[k]}
    assert differing == {"name", "port", "seed"}
    assert first["lora_modules"] == [{"name": "a"}]


def test_replica_config_is_accepted_by_the_simulator():
    sim_config = pytest.importorskip("sim.config")
    config = sim_config.SimConfig.build(**replica_config(FleetSpec(), 2, 8123, seed=1))
    assert config.num_gpu_blocks == 600 and config.name == "replica-2"


def test_engine_priority_fleet_sets_both_sides():
    sim_config = pytest.importorskip("sim.config")
    spec = FleetSpec(scheduling_policy="priority")
    assert sim_config.SimConfig.build(**replica_config(spec, 0, 8123, seed=1)).scheduling_policy == "priority"
    from bench.targets.picker_gateway import PickerGateway

    argv = PickerGateway("picker-recommended", "recommended").picker_args(
        scheduling_policy=spec.scheduling_policy
    )
    assert argv[argv.index("--model-server-scheduling-policy") + 1] == "priority"
    with pytest.raises(ValueError, match="scheduling_policy"):
        FleetSpec(scheduling_policy="lifo")


def test_picker_restart_must_fit_its_windows_in_the_load():
    scenario = {"name": "restart", "workload": {"kind": "no-sharing"},
                "load": {"kind": "open", "rate_rps": 1, "duration_s": 25},
                "picker_restart": {"at_s": 20, "window_s": 10}}
    with pytest.raises(ValidationError, match=r"duration_s \(25\) must cover picker_restart.at_s \+ window_s \(30\)"):
        Scenario.model_validate(scenario)
    with pytest.raises(ValidationError, match=r"at_s \(5\) must be >= window_s \(10\)"):
        Scenario.model_validate({**scenario, "picker_restart": {"at_s": 5}})
    assert Scenario.model_validate({**scenario, "load": {**scenario["load"], "duration_s": 40}}).picker_restart


def test_standard_preset_restarts_an_approximate_and_the_precise_picker_side_by_side():
    standard, _ = load_config(None, "standard")
    [restart] = [s for s in standard.scenarios if s.picker_restart is not None]
    assert standard.targets_for(restart) == ["picker-recommended", "picker-precise"]
    assert restart.picker_restart is not None and restart.picker_restart.window_s == 10


def test_scaled_out_precise_targets_run_the_profile_the_stack_deploys(tmp_path):
    """The precise profile places new prefixes by footprint, and so do its scaled-out targets (the stack
    deploys the same profile with picker.workers or active-active replicas); picker-precise-rendezvous is the
    one target that overrides it, with rendezvous hashing."""
    import yaml
    from bench.targets import build_targets
    from bench.targets.base import FleetView

    fleet = FleetView(replicas={"replica-0": "http://127.0.0.1:1"}, model="m", work_dir=tmp_path,
                      kv_events_ports=(5557, 5657))
    targets = build_targets()

    def cold_placement(name: str) -> str:
        profile = yaml.safe_load(targets[name]._events_profile(fleet))
        scorer = next(p for p in profile["plugins"] if p["type"] == "precise-prefix-cache-scorer")
        assert scorer["parameters"]["kvEventsConfig"]["podDiscoveryConfig"]["socketPort"] == 5557
        return scorer["parameters"]["coldPlacement"]

    assert {cold_placement(name) for name in ("picker-precise", "picker-precise-2-workers",
                                               "picker-precise-2-replicas")} == {"footprint"}
    assert cold_placement("picker-precise-rendezvous") == "rendezvous"


def test_the_active_active_target_shares_placements_as_infgw_local_runs_the_stacks_replicas():
    """picker-precise-2-replicas: one loopback port per replica and the other's as peer, from the function the
    local gateway uses (infgw.launch.placement_peers, over the stack's picker.placements.peer_flags);
    picker-recommended-2-replicas, like the stack's leader-elected replicas, shares nothing."""
    from bench.targets import build_targets
    from picker.cli import parse_options

    targets = build_targets()
    shared = targets["picker-precise-2-replicas"]._placement_sharing_args()
    options = [parse_options(["--pool-name", "p", *flags]) for flags in shared]
    ports = [option.placement_port for option in options]
    assert len(set(ports)) == 2 and 0 not in ports
    assert [option.placement_peer_list() for option in options] == [[("127.0.0.1", ports[1])],
                                                                     [("127.0.0.1", ports[0])]]
    assert targets["picker-recommended-2-replicas"]._placement_sharing_args() == [[], []]
