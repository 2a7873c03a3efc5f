"""Instructions the picker executes per whole request (valgrind callgrind's Ir), this tree against a git ref.

CPU time on a shared box moves by tens of percent with the neighbours' load; an instruction count does
not. Same workload as ``request_cost.py`` (RequestStream in front of the factory-built Director, real
PickerMetrics, ~1k-token completions and chat, half SSE), measured as one number per request: the
picker's logic plus protobuf (de)serialisation of every message, which the transport pays anyway and
which is nearly the same in both trees. Instrumentation is switched on only around the measured
requests (``callgrind_control``), so imports and warm-up cost nothing. Needs valgrind. Run from the
repository root:

    .venv/bin/python -m bench.micro.picker.request_instructions --baseline-ref HEAD~5

Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench.micro.command_line import command_line
from bench.micro.picker.request_cost import (  # the same workload, same directory
    PROFILES,
    REPO_ROOT,
    _Pool,
    baseline_source,
    build_requests,
)

_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def _callgrind_control(*arguments: str) -> None:
    subprocess.run(["callgrind_control", *arguments, str(os.getpid())], check=True, capture_output=True)


async def _child(
    profile: str, requests: int, warmup: int, seed: int, prompt_tokens: int, sse_events: int
) -> None:
    from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest
    from picker.config import load_config_file
    from picker.datastore.store import EndpointStore
    from picker.factory import build_director
    from picker.framework.clock import FakeClock
    from picker.metrics import PickerMetrics
    from picker.server.ext_proc_settings import ExtProcSettings
    from picker.server.request_stream import RequestStream

    # Virtual time: valgrind runs the picker ~50x slower, and real time would let every scrape go stale.
    clock = FakeClock()
    store = EndpointStore()
    pool = _Pool(store, clock, random.Random(seed))
    director = build_director(
        load_config_file(PROFILES[profile]), store, clock, random.Random(seed), PickerMetrics("bench")
    )
    settings = ExtProcSettings()
    wires = build_requests(seed, warmup + requests, prompt_tokens, sse_events)
    answers = []  # kept to serialise them again on their own: the wire share of the count
    for number, wire in enumerate(wires):
        if number == warmup:
            answers.clear()
            _callgrind_control("--instr=on")
        if number % 16 == 0:
            pool.refresh()  # scrapes: a handful per request at the default 50 ms interval and ~300 req/s
        stream = RequestStream(director, settings, lambda: str(uuid.uuid4()))
        for _, raw in wire.messages:
            for response in await stream.handle(ProcessingRequest.FromString(raw)):
                response.SerializeToString()
                answers.append(response)
        stream.close()
    _callgrind_control("--dump")  # dump 1: whole requests
    for wire in wires[warmup:]:
        for _, raw in wire.messages:
            ProcessingRequest.FromString(raw)
    for response in answers:
        response.SerializeToString()
    _callgrind_control("--dump")  # dump 2: protobuf (de)serialisation alone


def _instructions_per_request(
    src: Path, args: argparse.Namespace, profile: str, scratch: Path
) -> tuple[float, float]:
    """(whole request, protobuf wire alone) instructions per request for one tree and profile."""
    out = scratch / f"callgrind.{profile}.{src.parents[1].name}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])))
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
        sys.executable, "-m", "bench.micro.picker.request_instructions", "--child", "--profile", profile, "--requests", str(args.requests),
        "--seed", str(args.seed), "--prompt-tokens", str(args.prompt_tokens), "--sse-events", str(args.sse_events),
    ]  # fmt: skip
    subprocess.run(command, env=env, check=True, capture_output=True)
    counts = []
    for dump_number in (1, 2):  # the child's two --dump calls
        (dump,) = scratch.glob(f"{out.name}.*.{dump_number}")
        match = _TOTALS.search(dump.read_text())
        if match is None:
            raise SystemExit(f"{dump}: no 'totals:' line; is this callgrind's output?")
        counts.append(int(match.group(1)) / args.requests)
    return counts[0], counts[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="measured requests (after 50 of warm-up)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--sse-events", type=int, default=20)
    parser.add_argument("--profile", choices=sorted(PROFILES), action="append")
    parser.add_argument(
        "--baseline-ref", required=False, help="git ref to compare with (a temporary worktree)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # runs under valgrind
    args = parser.parse_args()
    profiles = args.profile or sorted(PROFILES)
    if args.child:
        asyncio.run(_child(profiles[0], args.requests, 50, args.seed, args.prompt_tokens, args.sse_events))
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind): callgrind counts the instructions")
    print(f"`{command_line()}`\n")
    print(
        f"valgrind callgrind instructions (Ir) per request, {args.requests} requests after 50 of warm-up, "
        f"{args.prompt_tokens}-token prompts, SSE with {args.sse_events} events on half the requests\n"
    )
    with tempfile.TemporaryDirectory(prefix="picker-instructions-") as scratch_name:
        scratch = Path(scratch_name)
        with baseline_source(args.baseline_ref, scratch) as baseline_src:
            trees = [("this tree", REPO_ROOT / "picker" / "src")]
            if baseline_src is not None:
                trees.insert(0, (args.baseline_ref, baseline_src))
            print("| profile | tree | whole request Ir | protobuf wire Ir | picker logic Ir |")
            print("|---|---|---:|---:|---:|")
            for profile in profiles:
                logic = []
                for name, src in trees:
                    whole, wire = _instructions_per_request(src, args, profile, scratch)
                    logic.append(whole - wire)
                    print(
                        f"| {profile} | {name} | {whole / 1e6:.3f} M | {wire / 1e6:.3f} M | {(whole - wire) / 1e6:.3f} M |"
                    )
                if len(logic) == 2:
                    print(f"| {profile} | ratio | | | **{logic[1] / logic[0]:.2f}x** |")


if __name__ == "__main__":
    main()
