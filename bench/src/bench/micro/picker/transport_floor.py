"""The floor under any Python ext_proc server: a servicer with no picker logic at all, through real Envoy.

Each variant is a trivial ``ExternalProcessor`` that routes every request to the first upstream and passes
every other phase through unchanged (the least a server can answer in FULL_DUPLEX_STREAMED), served by
grpcio.aio or by grpclib, side by side with Envoy round-robin to the same instant upstreams. Whatever this
costs per request, the picker costs at least as much; the gap between this and ``envoy_overhead.py`` is the
picker's own work.

Run from the repository root:

    .venv/bin/python -m bench.micro.picker.transport_floor
    .venv/bin/python -m bench.micro.picker.transport_floor --transports grpclib --modes full --repeats 3

Nothing here asserts; it prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import statistics
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.ext_proc.v3 import external_processor_pb2 as ext_proc
from pydantic import BaseModel

from bench.micro.picker.envoy_overhead import process_cpu_s, run_closed_loop, upstream_processes
from infgw.envoy import BodyMode, EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.launch.child_process import ChildProcess
from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.readiness import wait_ready_line_blocking

DESTINATION = "x-gateway-destination-endpoint"


# --- the trivial servicer (runs in a child process: ``transport_floor.py --serve TRANSPORT UPSTREAM``) ---


class _TrivialStream:
    """One ext_proc stream: hold the request headers until the body is complete, then route and pass on."""

    def __init__(self, destination: str) -> None:
        self._destination = destination
        self._body = bytearray()

    def answer(self, message: ext_proc.ProcessingRequest) -> list[ext_proc.ProcessingResponse]:
        phase = message.WhichOneof("request")
        if phase == "request_headers":
            if message.request_headers.end_of_stream:  # no body: route now
                return [self._routed_headers()]
            return []
        if phase == "request_body":
            self._body += message.request_body.body
            if not message.request_body.end_of_stream:
                return []
            body = ext_proc.ProcessingResponse()
            streamed = body.request_body.response.body_mutation.streamed_response
            streamed.body = bytes(self._body)
            streamed.end_of_stream = True
            return [self._routed_headers(), body]
        if phase == "response_headers":
            return [ext_proc.ProcessingResponse(response_headers=ext_proc.HeadersResponse())]
        if phase == "response_body":
            passed = ext_proc.ProcessingResponse()
            streamed = passed.response_body.response.body_mutation.streamed_response
            streamed.body = message.response_body.body
            streamed.end_of_stream = message.response_body.end_of_stream
            return [passed]
        if phase == "request_trailers":
            return [ext_proc.ProcessingResponse(request_trailers=ext_proc.TrailersResponse())]
        return [ext_proc.ProcessingResponse(response_trailers=ext_proc.TrailersResponse())]

    def _routed_headers(self) -> ext_proc.ProcessingResponse:
        response = ext_proc.ProcessingResponse()
        common = response.request_headers.response
        common.clear_route_cache = True
        common.header_mutation.set_headers.append(
            HeaderValueOption(header=HeaderValue(key=DESTINATION, raw_value=self._destination.encode()))
        )
        namespace = response.dynamic_metadata.fields["envoy.lb"].struct_value
        namespace.fields[DESTINATION].string_value = self._destination
        return response


async def _serve_grpcio(destination: str) -> None:
    import grpc
    from envoy.service.ext_proc.v3 import external_processor_pb2_grpc

    class Servicer(external_processor_pb2_grpc.ExternalProcessorServicer):
        async def Process(self, request_iterator, context):
            stream = _TrivialStream(destination)
            while (message := await context.read()) is not grpc.aio.EOF:
                for response in stream.answer(message):
                    await context.write(response)

    server = grpc.aio.server()
    external_processor_pb2_grpc.add_ExternalProcessorServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(FloorServicerReady(port=port).model_dump_json(), flush=True)
    await server.wait_for_termination()


async def _serve_grpclib(destination: str) -> None:
    from grpclib.const import Cardinality, Handler
    from grpclib.server import Server

    class Service:
        async def process(self, grpc_stream) -> None:
            stream = _TrivialStream(destination)
            async for message in grpc_stream:
                for response in stream.answer(message):
                    await grpc_stream.send_message(response)

        def __mapping__(self):
            return {
                "/envoy.service.ext_proc.v3.ExternalProcessor/Process": Handler(
                    self.process,
                    Cardinality.STREAM_STREAM,
                    ext_proc.ProcessingRequest,
                    ext_proc.ProcessingResponse,
                )
            }

    listening = socket.create_server(("127.0.0.1", 0))  # bound here: grpclib reports no bound port
    # Inherited by accepted sockets on Linux; the picker sets it per connection (server/grpc_server.py).
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server = Server([Service()])
    await server.start(sock=listening)
    port = listening.getsockname()[1]
    print(FloorServicerReady(port=port).model_dump_json(), flush=True)
    await server.wait_closed()


def _serve(transport: str, destination: str) -> None:
    asyncio.run(_serve_grpcio(destination) if transport == "grpcio.aio" else _serve_grpclib(destination))


# --- the measurement --------------------------------------------------------------------------------


class FloorServicerReady(BaseModel):
    """The servicer's readiness line (read by the launcher, as the picker's is)."""

    event: Literal["floor-servicer-listening"] = "floor-servicer-listening"
    port: int


@contextmanager
def floor_servicer(transport: str, destination: str, work_dir: Path) -> Iterator[tuple[ChildProcess, int]]:
    """The servicer in its own process (a launcher child), with the port it listens on."""
    argv = [sys.executable, "-m", "bench.micro.picker.transport_floor", "--serve", transport, destination]
    label = transport.replace(".", "-")
    child = ChildProcess(f"floor:{label}", argv, work_dir / f"floor-{label}.log")
    child.start()
    try:
        yield child, wait_ready_line_blocking(child, FloorServicerReady, 30).port
    finally:
        child.stop_blocking(10)


def _picker_connection(port: int, mode: str) -> PickerConnection:
    if mode == "route-only":
        return PickerConnection(
            port=port, tls=False, response_headers=False, response_body_mode=BodyMode.NONE
        )
    return PickerConnection(port=port, tls=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--transports", nargs="+", default=["grpcio.aio", "grpclib"], choices=["grpcio.aio", "grpclib"]
    )
    parser.add_argument("--modes", nargs="+", default=["full", "route-only"], choices=["full", "route-only"])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats (medians reported)")
    parser.add_argument("--serve", nargs=2, metavar=("TRANSPORT", "UPSTREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(*args.serve)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()[0]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    round_robin: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="transport-floor-") as work_dir,
        upstream_processes(2) as upstreams,
        EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(endpoints=tuple(upstreams)))) as baseline,
        ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as load,
    ):
        baseline_url = f"http://127.0.0.1:{baseline.listener_port}/v1/completions"
        for repeat in range(args.repeats):
            run = load.submit(
                run_closed_loop, baseline_url, args.concurrency, args.duration_s, repeat
            ).result()
            round_robin.append(len(run.latencies_s) / run.elapsed_s)
            for transport in args.transports:
                with floor_servicer(transport, upstreams[0], Path(work_dir)) as (servicer, port):
                    for mode in args.modes:
                        with EnvoyProcess(
                            build_bootstrap(EnvoyBootstrapSpec(picker=_picker_connection(port, mode)))
                        ) as envoy:
                            url = f"http://127.0.0.1:{envoy.listener_port}/v1/completions"
                            load.submit(run_closed_loop, url, 4, 1.0, repeat).result()  # warm-up
                            cpu_before = process_cpu_s(servicer.pid)
                            run = load.submit(
                                run_closed_loop, url, args.concurrency, args.duration_s, repeat
                            ).result()
                            cpu_after = process_cpu_s(servicer.pid)
                            if run.errors:
                                raise RuntimeError(f"{transport} {mode}: {run.errors} failed requests")
                            served = len(run.latencies_s)
                            cpu_ms = (
                                (cpu_after - cpu_before) * 1000 / served
                                if cpu_before is not None
                                else float("nan")
                            )
                            results.setdefault((transport, mode), []).append((served / run.elapsed_s, cpu_ms))
                            print(f"[{repeat}] {transport} {mode}: {served / run.elapsed_s:.0f} req/s, "
                                  f"{cpu_ms:.2f} ms CPU/request", file=sys.stderr)  # fmt: skip
    round_robin_rps = statistics.median(round_robin)
    print(f"Trivial ext_proc servicer through Envoy 1.40, no TLS, closed loop at {args.concurrency} in flight, "
          f"{args.duration_s:g} s runs, medians of {args.repeats} alternating repeats; Envoy round-robin "
          f"{round_robin_rps:.0f} req/s; load average before {load_before:.1f}.\n")  # fmt: skip
    print("| transport | ext_proc phases | servicer CPU ms/request | req/s | ratio to round-robin |")
    print("|---|---|---:|---:|---:|")
    for (transport, mode), runs in results.items():
        rps = statistics.median(r for r, _ in runs)
        cpu_ms = statistics.median(c for _, c in runs)
        print(f"| {transport} | {mode} | {cpu_ms:.2f} | {rps:.0f} | {rps / round_robin_rps:.2f} |")


if __name__ == "__main__":
    main()
