"""``python -m sim`` as a subprocess: announces its port, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sim.__main__ import app, build_config, translate_command_line
from typer.testing import CliRunner

from infgw.launch.replica_process import ReplicaProcess


def test_multi_value_flags_expand_like_vllm() -> None:
    argv = ["--lora-modules", "a", "b=/p", "--port", "0", "--served-model-name", "x", "y"]
    assert translate_command_line(argv).simulator_argv == [
        "--lora-modules",
        "a",
        "--lora-modules",
        "b=/p",
        "--port",
        "0",
        "--served-model-name",
        "x",
        "--served-model-name",
        "y",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--block-size", "10"], "block_size must be one of"),
        (["--error-rate", "2"], "faults.error_rate"),
        (["--scheduling-policy", "lifo"], "scheduling_policy: Input should be 'fcfs' or 'priority'"),
        (["--profile", "tpu-nonexistent"], "unknown latency profile 'tpu-nonexistent'"),
        (["--lora-modules", "{not json"], "not a valid adapter object"),
        (["--kv-events-config", '{"enable_kv_cache_events": true, "hvm": 1}'], "hvm"),
        (["--kv-events-encoding", "protobuf"], "kv_events_encoding"),
        (
            ["--num-gpu-blocks", "10", "--max-model-len", "1000"],
            "lower max_model_len or raise num_gpu_blocks",
        ),
    ],
)
def test_bad_config_exits_2_naming_the_key(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["--port", "0", *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("profile", ["tpu-nonexistent", "profiles/missing.yaml"])
def test_a_profile_that_does_not_exist_lists_the_shipped_ones_once(profile: str) -> None:
    result = CliRunner().invoke(app, ["--port", "0", "--profile", profile, "--check-config"])
    assert result.exit_code == 2
    assert result.output.count("shipped profiles: ['h100-llama3.1-8b', 'zero-latency']") == 1
    assert result.output.count("shipped profiles") == 1


def test_help_names_every_flag_in_full_on_80_columns() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "…" not in result.output
    for flag in ("--max-num-batched-tokens", "--num-gpu-blocks-override", "--kv-events-int-block-hashes"):
        assert flag in result.output


def test_flags_override_the_config_file_key_by_key(tmp_path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("model: from-file\nmax_num_seqs: 4\nfaults:\n  error_rate: 0.25\n  error_status: 503\n")
    config = build_config(path, {"max_num_seqs": 8}, {"error_rate": 0.5})
    assert (config.model, config.max_num_seqs) == ("from-file", 8)
    assert (config.faults.error_rate, config.faults.error_status) == (0.5, 503)
    assert build_config(None, {}, {}).model == "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.integration
def test_serves_announces_itself_and_stops_on_sigterm(tmp_path: Path) -> None:
    args = [
        "--profile", "zero-latency",
        "--lora-modules", "food-review-1", '{"name": "cad", "path": "/a/cad"}',
        "--max-loras", "2", "--enable-lora", "--tensor-parallel-size", "1",
    ]  # fmt: skip
    with ReplicaProcess("cli-replica", tmp_path / "sim.log", args) as replica:
        assert replica.announced is not None and replica.announced.name == "cli-replica"
        assert replica.announced.url == replica.url and replica.port > 0
        with urllib.request.urlopen(f"{replica.url}/v1/models", timeout=5) as response:
            ids = [card["id"] for card in json.load(response)["data"]]
        assert ids == ["meta-llama/Llama-3.1-8B-Instruct", "food-review-1", "cad"]
        assert replica.child.stop_blocking(10) == 0  # SIGTERM: a clean exit
    assert "ignoring vLLM flags the simulator does not model: --tensor-parallel-size" in replica.child.log_text()


@pytest.mark.integration
def test_busy_port_is_a_clear_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sim", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
