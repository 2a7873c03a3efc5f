"""CPU and instructions the picker's ext_proc server spends per request, transport included, without
sockets, TLS or Envoy: the HTTP/2 bytes Envoy sends for one request (its stream headers, the request
messages in one read, the response messages in a second, then RST_STREAM, as the one-in-flight record saw
them) are fed to the picker's own server protocol (``GrpcServer.connection_protocol``: h2, grpclib, the
ext_proc call and ``RequestStream``), behind a director that routes at once (no scheduling), on uvloop.

Run from the repository root:

    .venv/bin/python -m bench.micro.picker.transport_replay --baseline-ref main
    .venv/bin/python -m bench.micro.picker.transport_replay --baseline-ref main --instructions

Each tree runs in its own process, alternating, ``--rounds`` times; the least CPU per request is printed
(other processes only add to it). ``--instructions`` counts instructions instead (valgrind callgrind, one
run per tree; robust to the neighbours' load). Requests are ``request_cost``'s, with 250-token prompts:
JSON answers, or SSE with ``--sse-events`` events. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.micro.command_line import command_line
from bench.micro.picker.request_cost import PHASES, REPO_ROOT, baseline_source, build_requests

# The ext_proc stream's headers as Envoy 1.40 sends them (captured from a live gateway).
ENVOY_STREAM_HEADERS = [
    (":method", "POST"), (":path", "/envoy.service.ext_proc.v3.ExternalProcessor/Process"),
    (":authority", "endpoint_picker"), (":scheme", "http"), ("te", "trailers"),
    ("content-type", "application/grpc"), ("x-envoy-internal", "true"), ("x-forwarded-for", "192.0.2.2"),
]  # fmt: skip
_LOOP_TURNS = 6  # per read: the stream's task starts, answers, and the coalesced write flushes
_KINDS = ("json", "sse")


class _Transport:
    """Collects what the server writes; nothing is ever closing."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        pass


def _framed(message: bytes) -> bytes:
    return struct.pack(">?I", False, len(message)) + message


def _server_protocol() -> Any:
    from picker.server.ext_proc import ExternalProcessorService
    from picker.server.grpc_server import GrpcServer

    from bench.micro.picker.protocol_cost import _InstantDirector

    server = GrpcServer([ExternalProcessorService(_InstantDirector())])
    if hasattr(server, "connection_protocol"):
        return server.connection_protocol()
    from picker.server import grpc_server  # trees before connection_protocol existed

    return grpc_server._PickerServer([server])._protocol_factory()


def _requests(kind: str, sse_events: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """(request messages, response messages) of one request, cycling over a seeded mix."""
    streaming = kind == "sse"
    wires = [
        wire for index, wire in enumerate(build_requests(1, 128, 250, sse_events)) if index % 2 == streaming
    ]
    while True:
        for wire in wires:
            yield (
                [raw for phase, raw in wire.messages if phase in PHASES[:2]],
                [raw for phase, raw in wire.messages if phase in PHASES[2:4]],
            )


async def _replay(count: int, kind: str, sse_events: int) -> float:
    """Process CPU seconds the server spent on ``count`` requests (the client's h2 work is not counted)."""
    from h2.config import H2Configuration
    from h2.connection import H2Connection
    from h2.events import DataReceived

    transport = _Transport()
    protocol = _server_protocol()
    protocol.connection_made(transport)
    client = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
    client.initiate_connection()
    server_cpu_s = 0.0

    async def server_turn(data: bytes) -> bytes:
        nonlocal server_cpu_s
        started = time.process_time()
        protocol.data_received(data)
        for _ in range(_LOOP_TURNS):
            await asyncio.sleep(0)
        server_cpu_s += time.process_time() - started
        events = client.receive_data(b"".join(transport.written))
        transport.written.clear()
        for event in events:
            if (
                isinstance(event, DataReceived)
                and event.flow_controlled_length
                and event.stream_id in client.streams
            ):
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        return client.data_to_send()

    pending = await server_turn(client.data_to_send())  # prefaces and settings
    requests = _requests(kind, sse_events)
    for _ in range(count):
        request_messages, response_messages = next(requests)
        stream_id = client.get_next_available_stream_id()
        client.send_headers(stream_id, ENVOY_STREAM_HEADERS)
        for message in request_messages:
            client.send_data(stream_id, _framed(message))
        pending = await server_turn(pending + client.data_to_send())
        for message in response_messages:
            client.send_data(stream_id, _framed(message))
        pending = await server_turn(pending + client.data_to_send())
        client.reset_stream(stream_id)  # Envoy ends every ext_proc stream so once the response is through
        pending = await server_turn(pending + client.data_to_send())
    return server_cpu_s


def _child(args: argparse.Namespace) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_replay(max(50, args.requests // 10), args.kind, args.sse_events))  # warm-up
        if args.instructions:
            subprocess.run(
                ["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True
            )
        cpu_s = runner.run(_replay(args.requests, args.kind, args.sse_events))
        if args.instructions:
            subprocess.run(["callgrind_control", "--dump", str(os.getpid())], check=True, capture_output=True)
    print(json.dumps({"cpu_us": cpu_s * 1e6 / args.requests}))


def _run_tree(src: Path, args: argparse.Namespace, kind: str, scratch: Path) -> float:
    """CPU us per request, or instructions per request with ``--instructions``, for one tree."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])))
    child = [sys.executable, "-m", "bench.micro.picker.transport_replay", "--child", "--kind", kind,
             "--requests", str(args.requests), "--sse-events", str(args.sse_events)]  # fmt: skip
    if not args.instructions:
        output = subprocess.run(child, env=env, check=True, capture_output=True, text=True).stdout
        return float(json.loads(output.strip().splitlines()[-1])["cpu_us"])
    out = scratch / f"callgrind.{kind}.{len(list(scratch.iterdir()))}"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
               *child, "--instructions"]  # fmt: skip
    subprocess.run(command, env=env, check=True, capture_output=True)
    (dump,) = scratch.glob(f"{out.name}.*.1")
    totals = next(line for line in dump.read_text().splitlines() if line.startswith("totals:"))
    return int(totals.split()[1]) / args.requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="measured requests per run (after warm-up)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating CPU runs per tree; the least is printed"
    )
    parser.add_argument("--sse-events", type=int, default=8)
    parser.add_argument("--kind", choices=_KINDS, action="append", help="json, sse (default: both)")
    parser.add_argument("--baseline-ref", help="git ref to measure side by side (a temporary worktree)")
    parser.add_argument("--instructions", action="store_true", help="count instructions (valgrind callgrind)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = args.kind or list(_KINDS)
    if args.child:
        args.kind = kinds[0]
        _child(args)
        return
    if args.instructions and (shutil.which("valgrind") is None or shutil.which("callgrind_control") is None):
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    if args.instructions:
        args.requests = min(args.requests, 300)  # valgrind runs Python ~50x slower
    unit = "instructions" if args.instructions else "CPU us"
    print(f"`{command_line()}`\n")
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.requests} requests per run, "
        + ("one callgrind run per tree" if args.instructions else f"least of {args.rounds} alternating runs")
        + "\n"
    )
    with (
        tempfile.TemporaryDirectory(prefix="picker-transport-replay-") as scratch_name,
        baseline_source(args.baseline_ref, Path(scratch_name)) as baseline_src,
    ):
        scratch = Path(scratch_name)
        trees = [("this tree", REPO_ROOT / "picker" / "src")]
        if baseline_src is not None:
            trees.insert(0, (args.baseline_ref, baseline_src))
        print(
            f"| kind | {' | '.join(f'{name} {unit}/request' for name, _ in trees)} |"
            + (" ratio |" if baseline_src else "")
        )
        print("|---|" + "---:|" * (len(trees) + (1 if baseline_src else 0)))
        for kind in kinds:
            runs: dict[str, list[float]] = {name: [] for name, _ in trees}
            for _ in range(1 if args.instructions else args.rounds):
                for name, src in trees:
                    runs[name].append(_run_tree(src, args, kind, scratch))
            best = [min(runs[name]) for name, _ in trees]
            cells = " | ".join(
                f"{value / 1e6:.3f} M" if args.instructions else f"{value:.0f}" for value in best
            )
            ratio = f" {best[1] / best[0]:.2f}x |" if len(best) == 2 else ""
            print(f"| {kind} | {cells} |{ratio}")


if __name__ == "__main__":
    main()
