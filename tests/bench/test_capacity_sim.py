"""``bench.micro.picker.capacity_sim``: a bench scenario in virtual time over the simulator's engines."""

from __future__ import annotations

import pytest
from bench.cli import load_config
from bench.micro.picker.capacity_sim import pooled_lru_hit_rate, simulate, with_overrides
from picker.config.defaults import profile_config

BLOCK = 2


@pytest.mark.parametrize(
    ("prompts", "capacity", "expected_hit_tokens"),
    [
        ([[1, 2, 3, 4], [1, 2, 3, 4]], 2, 4),  # full blocks hit, as in the bound
        ([[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4]], 2, 0),  # a second prefix evicted the first
        ([[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4]], 4, 4),  # both fit
        ([[1, 2, 3, 4], [5, 6], [1, 2, 3, 4]], 2, 2),  # one block of room needed: the tail block goes,
        ([[1, 2, 3, 4], [5, 6], [1, 2, 9, 9]], 2, 2),  # the head block stays (evicting it would lose both)
    ],
    ids=["repeat", "evicted", "fits", "tail-evicted-first", "head-survives-for-another-suffix"],
)
def test_pooled_lru(prompts: list[list[int]], capacity: int, expected_hit_tokens: int) -> None:
    total = sum(len(prompt) for prompt in prompts)
    assert pooled_lru_hit_rate(prompts, BLOCK, capacity) == pytest.approx(expected_hit_tokens / total)


def test_a_short_run_is_deterministic_and_under_the_bound() -> None:
    config, _ = load_config(None, "standard")
    scenario = next(s for s in config.scenarios if s.name == "capacity-bound-chat")
    scenario = scenario.model_copy(update={"load": scenario.load.model_copy(update={"duration_s": 3.0})})
    fleet = config.fleet_for(scenario)
    precise = profile_config("precise")
    first = simulate(precise, scenario, fleet, seed=1)
    assert first == simulate(precise, scenario, fleet, seed=1)
    assert first.sent > 10
    assert 0 < first.hit_rate <= first.bound_hit_rate + 1e-9
    assert first.ttft_p90_s >= first.ttft_p50_s > 0


def test_overrides_reach_the_named_plugin_only() -> None:
    config = with_overrides(profile_config("precise"), ["historyBelowMatch=0.5", "load-headroom-scorer:busyScale=4"])
    parameters = {plugin.type: plugin.parameters for plugin in config.plugins}
    assert parameters["precise-prefix-cache-scorer"]["historyBelowMatch"] == 0.5
    assert parameters["load-headroom-scorer"]["busyScale"] == 4
    recommended = profile_config("recommended")
    assert with_overrides(recommended, ["historyBelowMatch=0.5"]) == recommended


def test_the_bench_endpoint_names_reproduce_its_rendezvous_loss() -> None:
    """Rendezvous placement hashes endpoint names: under the bench's names (``replica-<i>-rank-<i>``) the
    simulation loses what the bench loses on capacity-bound-chat, seed 1 (63% vs 78% of the bound there); under
    other names it placed the groups otherwise and showed no loss."""
    config, _ = load_config(None, "standard")
    scenario = next(s for s in config.scenarios if s.name == "capacity-bound-chat")
    fleet = config.fleet_for(scenario)
    footprint, rendezvous = (
        simulate(with_overrides(profile_config("precise"), [f"coldPlacement={rule}"]), scenario, fleet, seed=1)
        for rule in ("footprint", "rendezvous")
    )
    assert rendezvous.of_bound < footprint.of_bound - 0.10
