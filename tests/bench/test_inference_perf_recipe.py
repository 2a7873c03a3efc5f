"""The inference-perf recipe's pure parts: its config, the install hint, the driver's matching load and its
calibration, reading inference-perf's summary, the comparison table, the tokenizer builder. The run itself
(needs inference-perf installed from PyPI) is `make bench-inference-perf`, outside `make test`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bench.inference_perf.recipe import (
    BUILD_TOKENIZER,
    ClientFigures,
    InferencePerfRun,
    RecipeError,
    calibrated_words_per_token,
    comparison_table,
    driver_workload,
    inference_perf_config,
    inference_perf_executable,
    read_inference_perf_summary,
    without_machine_paths,
)


def test_config_points_inference_perf_at_the_gateway_and_the_local_tokenizer(tmp_path):
    run = InferencePerfRun(rate_rps=3, duration_s=20, groups=4, prompts_per_group=5, system_prompt_tokens=900,
                           question_tokens=50, output_tokens=16)
    config = inference_perf_config("http://127.0.0.1:1234", "sim-model", tmp_path / "tok", run, tmp_path / "r", 7)
    assert config["server"] == {"type": "vllm", "model_name": "sim-model", "base_url": "http://127.0.0.1:1234",
                                "ignore_eos": True}
    assert config["tokenizer"] == {"pretrained_model_name_or_path": str(tmp_path / "tok")}
    # Poisson arrivals, as the bench driver's open loop.
    assert config["load"] == {"type": "poisson", "stages": [{"rate": 3, "duration": 20}]}
    assert config["data"] == {"type": "shared_prefix", "shared_prefix": {
        "num_unique_system_prompts": 4, "num_users_per_system_prompt": 5, "system_prompt_len": 900,
        "question_len": 50, "output_len": 16, "seed": 7}}
    assert config["api"] == {"type": "completion", "streaming": True}
    assert config["storage"] == {"local_storage": {"path": str(tmp_path / "r")}}


def test_a_missing_install_names_the_make_target_and_the_pip_flags(tmp_path):
    with pytest.raises(RecipeError, match=r"make bench-inference-perf.*--ignore-requires-python --only-binary=:all:"):
        inference_perf_executable(tmp_path / "venv")
    script = tmp_path / "venv" / "bin" / "inference-perf"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    assert inference_perf_executable(tmp_path / "venv") == script.absolute()


def test_the_drivers_load_has_inference_perfs_shape():
    run = InferencePerfRun(rate_rps=2, duration_s=10, groups=3, prompts_per_group=4, system_prompt_tokens=100,
                           question_tokens=10, output_tokens=8)
    workload = driver_workload(run, "m")
    requests = workload.generate(1)
    assert len(requests) == 60  # three times the 20 expected arrivals
    first_cycle = requests[:12]
    assert sorted({r.prefix_group for r in first_cycle}) == ["group-0", "group-1", "group-2"]
    assert len({r.messages[1].content for r in first_cycle}) == 12  # every prompt once per cycle
    assert [r.messages for r in requests[12:24]] == [r.messages for r in first_cycle]  # then again, same order
    assert all(r.max_tokens == 8 and len(r.messages[0].content.split()) == 100 for r in requests)
    halved = driver_workload(run, "m", words_per_token=0.5).generate(1)[0]
    assert len(halved.messages[0].content.split()) == 50 and len(halved.messages[1].content.split()) == 5


@pytest.mark.parametrize(("target", "measured", "expected"),
                         [(3700.0, 5600.0, 3700 / 5600), (None, 5600.0, 1.0), (3700.0, 0.0, 1.0)])
def test_calibration_scales_words_to_inference_perfs_server_side_prompt_size(target, measured, expected):
    assert calibrated_words_per_token(target, measured) == pytest.approx(expected)


def test_inference_perfs_summary_is_read_in_ms(tmp_path):
    summary = tmp_path / "summary_lifecycle_metrics.json"
    summary.write_text(json.dumps({
        "benchmark_time_seconds": 10.0, "load_summary": {},
        "successes": {"count": 38, "latency": {
            "time_to_first_token": {"mean": 0.1, "median": 0.145, "p90": 0.169},
            "request_latency": {"mean": 0.3, "median": 0.34, "p90": 0.364}},
            "throughput": {"output_tokens_per_sec": 71.8, "requests_per_sec": 3.8}},
        "failures": {"count": 2}}))
    assert read_inference_perf_summary(summary) == pytest.approx({
        "ok": 38, "failed": 2, "ttft_p50_ms": 145.0, "ttft_p90_ms": 169.0, "e2e_p50_ms": 340.0, "e2e_p90_ms": 364.0,
        "output_tokens_per_s": 71.8})


def test_an_unreadable_summary_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="cannot read inference-perf's summary"):
        read_inference_perf_summary(tmp_path / "missing.json")


def test_comparison_table_has_one_row_per_router_and_client():
    figures = [ClientFigures(router="picker", client="inference-perf", ok=38, failed=0, ttft_p50_ms=145.2,
                             ttft_p90_ms=169.0, e2e_p50_ms=340.0, e2e_p90_ms=364.0, output_tokens_per_s=71.8,
                             server_prompt_tokens_per_request=3698.4, server_hit_rate=0.382),
               ClientFigures(router="envoy-round-robin", client="bench-driver", ok=0, failed=3, ttft_p50_ms=None,
                             ttft_p90_ms=None, e2e_p50_ms=None, e2e_p90_ms=None, output_tokens_per_s=None,
                             server_prompt_tokens_per_request=None, server_hit_rate=None)]
    lines = comparison_table(figures).splitlines()
    assert lines[2] == "| picker | inference-perf | 38 | 0 | 145 | 169 | 340 | 364 | 72 | 3,698 | 38.2% |"
    assert lines[3] == "| envoy-round-robin | bench-driver | 0 | 3 | n/a | n/a | n/a | n/a | n/a | n/a | n/a |"


def test_tokenizer_builder_makes_a_folder_transformers_can_load(tmp_path):
    pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    import subprocess

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 200)
    subprocess.run([sys.executable, str(BUILD_TOKENIZER), str(corpus), str(tmp_path / "tok"), "--vocab-size", "300"],
                   check=True, timeout=120)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert tokenizer.decode(tokenizer("the lazy fox")["input_ids"]) == "the lazy fox"


def test_builder_script_exists_next_to_the_recipe():
    assert Path(BUILD_TOKENIZER).is_file()


def test_the_published_report_names_no_machine_paths(tmp_path: Path) -> None:
    report = tmp_path / "report" / "picker"
    (report / "run").mkdir(parents=True)
    tokenizer = tmp_path / "work" / "tokenizer"
    (report / "run" / "config.yaml").write_text(
        f"storage:\n  local_storage:\n    path: {report}\ntokenizer:\n  pretrained_model_name_or_path: {tokenizer}\n"
    )
    without_machine_paths(report, {report: ".", tokenizer: "<work dir>/tokenizer"})
    text = (report / "run" / "config.yaml").read_text()
    assert str(tmp_path) not in text
    assert "path: .\n" in text and "<work dir>/tokenizer" in text
