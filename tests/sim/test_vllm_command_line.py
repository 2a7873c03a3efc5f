"""``python -m sim`` takes vLLM's command line: modelled flags configure the simulator, the other vLLM
flags are listed once on stderr and ignored, a flag vLLM does not have exits 2 naming it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from sim.__main__ import main
from sim.vllm_command_line import human_readable_int
from sim.vllm_flags import VLLM_FLAGS, FlagKind

from components.config import load_stack_config
from components.specs.model_server import vllm_command

REPO_ROOT = Path(__file__).resolve().parents[2]
VLLM_ENTRYPOINT = "python3 -m vllm.entrypoints.openai.api_server "
IGNORING = "vllm-sim: ignoring vLLM flags the simulator does not model: "


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any] | None, str]:
    """``main(argv + --check-config)``: exit code, the resolved config (if printed), stderr."""
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--check-config"])
    out, err = capsys.readouterr()
    code = exited.value.code or 0
    return int(code), json.loads(out) if code == 0 else None, err


def ignored_flags(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.startswith(IGNORING)]
    assert len(lines) <= 1, "the ignored flags are listed once"
    return lines[0].removeprefix(IGNORING).split(", ") if lines else []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--model", "m", "--port", "0"], {"model": "m", "port": 0}),
        (["--model=m", "--port=0", "--host=127.0.0.2"], {"model": "m", "port": 0, "host": "127.0.0.2"}),
        (["m", "--port", "0"], {"model": "m"}),  # vllm serve's positional model tag
        (["--max_num_seqs", "7", "--max-num-batched-tokens=512"], {"max_num_seqs": 7, "max_num_batched_tokens": 512}),
        (["--max-num-seq", "1024"], {"max_num_seqs": 1024}),  # argparse abbreviation, as upstream manifests spell it
        (["--max-model-len", "4k"], {"max_model_len": 4000}),
        (["--max-model-len", "2K", "--max-num-batched-tokens", "1k"], {"max_model_len": 2048, "max_num_batched_tokens": 1000}),
        (["--block-size", "32", "--num-gpu-blocks-override", "4096"], {"block_size": 32, "num_gpu_blocks": 4096}),
        (["--no-enable-prefix-caching"], {"enable_prefix_caching": False}),
        (["--enable-prefix-caching"], {"enable_prefix_caching": True}),
        (["--seed", "42"], {"seed": 42}),
        (["--served-model-name", "a", "b"], {"served_model_name": ["a", "b"]}),
        (
            ["--enable-lora", "--max-loras", "3", "--lora-modules", "x=/p", '{"name": "y", "path": "/q"}'],
            {"enable_lora": True, "max_loras": 3, "lora_modules": [
                {"name": "x", "path": "/p", "base_model_name": None},
                {"name": "y", "path": "/q", "base_model_name": None},
            ]},
        ),
        (["--no-enable-lora"], {"enable_lora": False}),
        (["--scheduling-policy=priority"], {"scheduling_policy": "priority"}),
        (["--port", "8000", "--port", "0"], {"port": 0}),  # the last value wins, as in argparse
        (["--profile", "zero-latency", "--mode", "echo", "--error-rate", "0.5"], {"profile": "zero-latency", "mode": "echo"}),
        (
            ["--kv-events-config", '{"enable_kv_cache_events": true, "endpoint": "tcp://*:5557", "topic": "kv@x"}'],
            {"kv_events_config": {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": "tcp://*:5557",
                                  "replay_endpoint": None, "buffer_steps": 10000, "hwm": 100000,
                                  "max_queue_size": 100000, "topic": "kv@x"}},
        ),
        (["--chat-template", "{{ messages[0]['content'] }}"], {"chat_template": "{{ messages[0]['content'] }}"}),
    ],
)  # fmt: skip
def test_modelled_flags_configure_the_simulator(argv, expected, capsys) -> None:
    code, config, err = run(argv, capsys)
    assert code == 0, err
    assert config is not None
    assert {key: config[key] for key in expected} == expected
    assert ignored_flags(err) == []


@pytest.mark.parametrize(
    ("argv", "ignored"),
    [
        (["--tensor-parallel-size", "2", "-tp", "2"], ["--tensor-parallel-size"]),
        (["--compilation-config", '{"cudagraph_mode": "PIECEWISE"}'], ["--compilation-config"]),
        (["--compilation-config.cudagraph_mode", "PIECEWISE", "-O3"], ["--compilation-config"]),
        (["-O.level=3", "--kv-transfer-config={}"], ["--compilation-config", "--kv-transfer-config"]),
        (["--enforce-eager", "--no-trust-remote-code", "--disable-log-stats"], ["--enforce-eager", "--trust-remote-code", "--disable-log-stats"]),
        (["--api-key", "k1", "k2", "--port", "0"], ["--api-key"]),
        (["--hf-token", "--port", "0"], ["--hf-token"]),
        (["--hf-token", "secret"], ["--hf-token"]),
        (["--gpu-memory-utilization", "0.9", "--dtype=bfloat16", "-q", "awq"], ["--gpu-memory-utilization", "--dtype", "--quantization"]),
        (["--scheduling-policy", "priority", "--speculative-config", '{"num_speculative_tokens": 2}'], ["--speculative-config"]),
    ],
)  # fmt: skip
def test_vllm_flags_the_simulator_does_not_model_are_listed_and_ignored(argv, ignored, capsys) -> None:
    code, config, err = run(["--port", "0", *argv], capsys)
    assert code == 0, err
    assert config is not None and config["port"] == 0
    assert ignored_flags(err) == ignored


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frobnicate", "1"], "unrecognized arguments: --frobnicate"),
        (["-x"], "unrecognized arguments: -x"),
        (["--max", "3"], "ambiguous option: --max could match"),
        (["--tensor-parallel-size"], "argument --tensor-parallel-size: expected one argument"),
        (["--enforce-eager=true"], "argument --enforce-eager: ignored explicit argument 'true'"),
        (
            ["--no-disable-log-stats"],
            "unrecognized arguments: --no-disable-log-stats",
        ),  # store_true has no --no-
        (["--max-num-seqs.x", "1"], "only JSON-valued vLLM flags take dotted keys"),
        (["--max-model-len", "1.5K"], "decimals are not allowed with binary suffixes"),
        (["model-a", "model-b"], "unrecognized arguments: model-b"),
    ],
)
def test_a_flag_vllm_would_refuse_exits_2_naming_it(argv, message, capsys) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err


def test_bad_modelled_values_exit_2_naming_the_key(capsys) -> None:
    code, _, err = run(["--no-enable-lora", "--lora-modules", "a=/p"], capsys)
    assert code == 2 and "pass --enable-lora" in err


def stack_vllm_args(stack_file: str) -> list[list[str]]:
    config = load_stack_config(REPO_ROOT / stack_file)
    return [shlex.split(vllm_command(pool).split(VLLM_ENTRYPOINT, 1)[1]) for pool in config.services.pools]


@pytest.mark.parametrize("stack_file", ["Pulumi.dev.yaml", "Pulumi.single.yaml"])
def test_the_args_each_shipped_stack_renders_run_the_simulator(stack_file, capsys) -> None:
    all_args = stack_vllm_args(stack_file)
    assert all_args
    for args in all_args:
        code, config, err = run([*args, "--port", "0"], capsys)  # a local launcher appends its own port
        assert code == 0, err
        assert config is not None
        assert config["model"] == args[args.index("--model") + 1]
        assert "--tensor-parallel-size" in ignored_flags(err)
        if "--enable-lora" in args:
            assert config["enable_lora"] is True
            assert config["max_loras"] == int(args[args.index("--max-loras") + 1])


def test_the_full_planned_vllm_command_line_runs_the_simulator(capsys) -> None:
    args = shlex.split(
        "--model meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size 1 --port 8000 --max-model-len 4096 "
        "--enable-lora --max-loras 2 --max-cpu-loras 12 --max-num-seqs 1024 "
        """--compilation-config '{"cudagraph_mode":"PIECEWISE"}' --max-lora-rank 16"""
    )
    code, config, err = run([*args, "--port", "0"], capsys)
    assert code == 0, err
    assert config is not None
    assert (config["max_model_len"], config["max_loras"], config["max_num_seqs"]) == (4096, 2, 1024)
    assert ignored_flags(err) == [
        "--tensor-parallel-size", "--max-cpu-loras", "--compilation-config", "--max-lora-rank",
    ]  # fmt: skip


def test_the_flag_table_is_consistent() -> None:
    names = [flag.name for flag in VLLM_FLAGS]
    aliases = [alias for flag in VLLM_FLAGS for alias in flag.aliases]
    assert len(names) == len(set(names)) and len(aliases) == len(set(aliases))
    assert all(name.startswith("--") and name == name.lower() and "_" not in name for name in names)
    kinds = {flag.name: flag.kind for flag in VLLM_FLAGS}
    assert kinds["--enable-lora"] is FlagKind.BOOL and kinds["--lora-modules"] is FlagKind.VALUES
    assert kinds["--disable-log-stats"] is FlagKind.SWITCH


@pytest.mark.parametrize(
    ("text", "value"), [("4096", 4096), ("25.6k", 25_600), ("1K", 1024), ("2M", 2 * 2**20), ("1g", 10**9)]
)
def test_human_readable_ints_as_vllm_parses_them(text, value) -> None:
    assert human_readable_int(text) == value
