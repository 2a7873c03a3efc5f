"""The inference-perf recipe's pure parts: its config, the interpreter check, the tokenizer builder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench.inference_perf.recipe import (
    BUILD_TOKENIZER,
    InferencePerfRun,
    RecipeError,
    find_python,
    inference_perf_config,
)


def test_config_points_inference_perf_at_the_gateway_and_the_local_tokenizer(tmp_path):
    run = InferencePerfRun(rate_rps=3, duration_s=20, groups=4)
    config = inference_perf_config("http://127.0.0.1:1234", "sim-model", tmp_path / "tok", run, tmp_path / "r")
    assert config["server"] == {"type": "vllm", "model_name": "sim-model", "base_url": "http://127.0.0.1:1234",
                                "ignore_eos": True}
    assert config["tokenizer"] == {"pretrained_model_name_or_path": str(tmp_path / "tok")}
    assert config["load"] == {"type": "constant", "stages": [{"rate": 3, "duration": 20}]}
    assert config["data"]["shared_prefix"]["num_unique_system_prompts"] == 4
    assert config["storage"] == {"local_storage": {"path": str(tmp_path / "r")}}


def test_an_old_interpreter_is_refused_with_the_reason():
    if sys.version_info >= (3, 12):
        pytest.skip("this interpreter is new enough for inference-perf")
    with pytest.raises(RecipeError, match=r"Python >= 3\.12"):
        find_python(sys.executable)


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
