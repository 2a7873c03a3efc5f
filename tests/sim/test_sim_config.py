"""SimConfig and latency profiles: bad input fails before anything starts, naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim.latency_profile import ProfileError, load_profile, shipped_profile_names

from sim import ConfigError, LoraModule, SimConfig


def test_defaults_describe_the_seed_deployment() -> None:
    config = SimConfig.build()
    assert config.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert config.model_names == ["meta-llama/Llama-3.1-8B-Instruct"]
    engine = config.engine_config(config.load_profile())
    assert engine.block_size == 16 and engine.num_gpu_blocks > 10_000


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match="max_num_seq: Extra inputs are not permitted"):
        SimConfig.build(max_num_seq=4)


def test_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError, match="max_num_seqs"):
        SimConfig.build(max_num_seqs="many")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"block_size": 10}, "block_size must be one of"),
        ({"lora_modules": [{"name": "a"}], "max_loras": 0}, "set max_loras to at least 1"),
        ({"lora_modules": [{"name": "a"}, {"name": "a"}]}, "repeated: \\['a'\\]"),
        (
            {"lora_modules": [{"name": "base"}], "served_model_name": ["base"]},
            "clash with served model names",
        ),
        ({"faults": {"error_rate": 1.5}}, "faults.error_rate"),
        ({"faults": {"error_status": 200}}, "4xx or 5xx"),
        ({"mode": "poetry"}, "mode"),
        ({"scheduling_policy": "lifo"}, "scheduling_policy: Input should be 'fcfs' or 'priority'"),
        ({"faults": {"error_rate": 0.6, "hang_rate": 0.3, "cut_rate": 0.2}}, "must be at most 1"),
    ],
)
def test_invalid_values_fail_with_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SimConfig.build(**values)


def test_step_budget_must_cover_max_num_seqs() -> None:
    config = SimConfig.build(max_num_seqs=512, max_num_batched_tokens=256)
    with pytest.raises(ConfigError, match="raise max_num_batched_tokens or lower max_num_seqs"):
        config.engine_config(config.load_profile())


def test_context_window_must_fit_the_kv_cache() -> None:
    config = SimConfig.build(num_gpu_blocks=10, max_model_len=1000)
    with pytest.raises(ConfigError, match="lower max_model_len or raise num_gpu_blocks"):
        config.engine_config(config.load_profile())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("food-review=/adapters/food", LoraModule(name="food-review", path="/adapters/food")),
        ("food-review", LoraModule(name="food-review")),
        (
            '{"name": "cad", "path": "/a/cad", "base_model_name": "m"}',
            LoraModule(name="cad", path="/a/cad", base_model_name="m"),
        ),
    ],
)
def test_lora_modules_take_vllm_spellings(spec: str, expected: LoraModule) -> None:
    assert LoraModule.parse(spec) == expected


def test_lora_module_bad_json_is_reported() -> None:
    with pytest.raises(ConfigError, match="not a valid adapter object"):
        LoraModule.parse('{"path": "/no/name"}')


def test_yaml_file_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("model: m\nmax-num-seqs: 3\nlora_modules:\n  - name: a\nfaults:\n  error_rate: 0.5\n")
    config = SimConfig.from_yaml(path, max_num_seqs=7)
    assert (config.model, config.max_num_seqs, config.lora_modules[0].name) == ("m", 7, "a")
    assert config.faults.error_rate == 0.5


def test_yaml_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        SimConfig.from_yaml(path)


def test_shipped_profiles_load_and_order_their_costs() -> None:
    assert {"h100-llama3.1-8b", "zero-latency"} <= set(shipped_profile_names())
    for name in shipped_profile_names():
        profile = load_profile(name)
        assert profile.step_time_s(0, 0, 0) == 0.0
    h100 = load_profile("h100-llama3.1-8b")
    # Google's single-cluster Inference Gateway tutorial's two figures: ~10 ms per step at batch ~50, prompt tokens ~6x cheaper than output tokens.
    assert h100.step_time_s(50, 0, 0) == pytest.approx(0.010, rel=0.05)
    per_output_token_s = h100.step_time_s(50, 0, 0) / 50
    assert per_output_token_s / h100.prefill_per_token_s == pytest.approx(6, rel=0.05)
    assert load_profile("zero-latency").step_time_s(100, 10_000, 1_000_000) == 0.0


def test_unknown_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="shipped profiles: \\["):
        load_profile("a100-unknown")
    with pytest.raises(ConfigError, match="profile:"):
        SimConfig.build(profile="a100-unknown").load_profile()


def test_profile_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nstep_overhead_s: -1\n")
    with pytest.raises(ProfileError, match=r"mine\.yaml is invalid"):
        load_profile(str(path))
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(str(tmp_path / "missing.yaml"))
