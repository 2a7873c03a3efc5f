"""Where the precise scorer should get token ids: tokenizing in process, or asking the model server.

llm-d asks vLLM's render endpoints for a request's token ids (a render sidecar); the picker tokenizes in
process with the same tokenizer files (``tokenizers`` in Rust, or the simulator's approximate tokenizer) and
caches chunks of shared prefixes. This times both on the decision benchmark's workload (prompts of
``--prompt-tokens`` tokens whose first 80% is one of 32 shared system prompts, seeded): per request, the
picker's wall time and thread-CPU time to get the ids, and for the server path also the server's CPU time
per request (from /proc). The server is the simulator, which serves vLLM's ``/tokenize`` (the completions
shape: the prompt with the tokenizer's special tokens, as the picker tokenizes it); every id list is checked
against the in-process one. Requests run one at a time. Not a test: run it by hand.

    .venv/bin/python -m bench.micro.picker.tokenize_path [--requests 300] [--build-tokenizer | --tokenizer DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from array import array
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
from picker.framework.types import InferenceRequest
from picker.tokenization.request_tokenizer import RequestTokenizer

from bench.micro.picker.scheduling_latency import build_workload_tokenizer, make_prompts
from bench.soak.overload import process_cpu_s
from bench.stats.percentiles import percentile_or_nan
from infgw.launch.replica_process import ReplicaProcess

MODEL = "base"


@dataclass(frozen=True)
class PathCell:
    tokenizer: str
    path: str
    wall_p50_ms: float
    wall_p99_ms: float
    cpu_p50_ms: float
    cpu_p99_ms: float
    server_cpu_mean_ms: float | None


def _request(index: int, prompt: str) -> InferenceRequest:
    return InferenceRequest(f"r{index}", MODEL, MODEL, prompt, {"model": MODEL, "prompt": prompt})


def _cell(
    tokenizer: str, path: str, wall: list[float], cpu: list[float], server_ms: float | None
) -> PathCell:
    wall.sort()
    cpu.sort()
    return PathCell(
        tokenizer,
        path,
        percentile_or_nan(wall, 50) * 1000,
        percentile_or_nan(wall, 99) * 1000,
        percentile_or_nan(cpu, 50) * 1000,
        percentile_or_nan(cpu, 99) * 1000,
        server_ms,
    )


def in_process(
    tokenizer: RequestTokenizer, prompts: list[str], systems: list[str], warmup: int
) -> tuple[list[array[int]], PathCell]:
    """The picker's own path, its chunk cache warm as in a running picker that has seen the system prompts."""
    for index, system in enumerate(systems):
        tokenizer.token_ids(_request(-1 - index, system))
    wall: list[float] = []
    cpu: list[float] = []
    ids: list[array[int]] = []  # arrays: lists of ints kept for the check would slow every collection
    for index, prompt in enumerate(prompts):
        started, cpu_started = time.perf_counter(), time.thread_time()
        token_ids = tokenizer.token_ids(_request(index, prompt))
        cpu_s, wall_s = time.thread_time() - cpu_started, time.perf_counter() - started
        ids.append(array("I", token_ids))
        if index >= warmup:
            wall.append(wall_s)
            cpu.append(cpu_s)
    return ids, _cell("", "in process", wall, cpu, None)


async def via_server(
    url: str, server_pid: int, prompts: list[str], expected: list[array[int]], warmup: int
) -> PathCell:
    """POST /tokenize per request (one kept-alive connection), parse the ids, check them."""
    wall: list[float] = []
    cpu: list[float] = []
    async with aiohttp.ClientSession() as session:
        server_cpu_before = 0.0
        for index, prompt in enumerate(prompts):
            if index == warmup:
                server_cpu_before = process_cpu_s(server_pid)
            started, cpu_started = time.perf_counter(), time.thread_time()
            async with session.post(f"{url}/tokenize", json={"model": MODEL, "prompt": prompt}) as response:
                body = await response.json()
            cpu_s, wall_s = time.thread_time() - cpu_started, time.perf_counter() - started
            if response.status != 200 or array("I", body["tokens"]) != expected[index]:
                raise RuntimeError(f"/tokenize answered {response.status} with other ids than the picker's")
            if index >= warmup:
                wall.append(wall_s)
                cpu.append(cpu_s)
        server_ms = (process_cpu_s(server_pid) - server_cpu_before) / len(wall) * 1000
    return _cell("", "server /tokenize", wall, cpu, server_ms)


def measure(
    tokenizer_dir: Path | None, prompts: list[str], systems: list[str], work_dir: Path
) -> list[PathCell]:
    name = "approximate" if tokenizer_dir is None else "tokenizer.json"
    tokenizer = (
        RequestTokenizer.approximate()
        if tokenizer_dir is None
        else RequestTokenizer.from_directory(tokenizer_dir)
    )
    warmup = len(prompts) // 10
    ids, local = in_process(tokenizer, prompts, systems, warmup)
    args = ["--profile", "zero-latency", "--model", MODEL, "--max-model-len", "1000000"]
    if tokenizer_dir is not None:
        args += ["--tokenizer", str(tokenizer_dir)]
    with ReplicaProcess(f"tokenize-{name}", work_dir / f"sim-{name}.log", args) as server:
        pid = server.child.pid
        assert pid is not None
        remote = asyncio.run(via_server(server.url, pid, prompts, ids, warmup))
    return [replace(cell, tokenizer=name) for cell in (local, remote)]


def print_table(cells: list[PathCell], prompt_tokens: int, requests: int) -> None:
    print(
        f"# Token ids for the precise scorer, {prompt_tokens}-token prompts (80% shared), {requests} requests, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| tokenizer | path | wall p50 (ms) | wall p99 (ms) | picker CPU p50 (ms) | picker CPU p99 (ms) | server CPU mean (ms) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for cell in cells:
        server = "-" if cell.server_cpu_mean_ms is None else f"{cell.server_cpu_mean_ms:.2f}"
        print(
            f"| {cell.tokenizer} | {cell.path} | {cell.wall_p50_ms:.2f} | {cell.wall_p99_ms:.2f} | "
            f"{cell.cpu_p50_ms:.2f} | {cell.cpu_p99_ms:.2f} | {server} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--prompt-tokens", type=int, default=8000)
    tokenizer = parser.add_mutually_exclusive_group()
    tokenizer.add_argument("--tokenizer", type=Path, help="a folder with tokenizer.json: adds its rows")
    tokenizer.add_argument(
        "--build-tokenizer", action="store_true", help="train a BPE on the workload's text"
    )
    args = parser.parse_args()
    prompts, systems = make_prompts(random.Random(args.seed), args.prompt_tokens, args.requests)
    with tempfile.TemporaryDirectory(prefix="tokenize-path-") as scratch:
        tokenizer_dir = args.tokenizer
        if args.build_tokenizer:
            tokenizer_dir = build_workload_tokenizer(Path(scratch), args.seed, args.prompt_tokens)
        cells = measure(None, prompts, systems, Path(scratch))
        if tokenizer_dir is not None:
            cells += measure(tokenizer_dir, prompts, systems, Path(scratch))
    print_table(cells, args.prompt_tokens, args.requests)


if __name__ == "__main__":
    main()
