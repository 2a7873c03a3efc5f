"""Does the picker keep a streamed (SSE) response's pacing? Client-side gaps between chunks through Envoy
round-robin and through Envoy + picker, from an upstream that writes one SSE event every ``--gap-ms``.

Run from the repository root:

    .venv/bin/python -m bench.micro.picker.sse_streaming
    .venv/bin/python -m bench.micro.picker.sse_streaming --response-body-mode STREAMED

If the picker (or Envoy's ext_proc path) batches chunks, the client sees gaps near 0 ms followed by long
ones; a faithful path shows gaps near ``--gap-ms``. Nothing here asserts: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.micro.command_line import command_line
from bench.micro.picker.envoy_overhead import (
    percentile_ms,
    picker_process,
    process_cpu_s,
    serve_upstream_app,
    upstream_child,
)
from infgw.envoy import BodyMode, EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.launch.envoy_process import EnvoyProcess


def _serve_streaming_upstream(events: int, gap_s: float, port_queue: multiprocessing.Queue) -> None:
    from aiohttp import web

    async def completions(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for index in range(events):
            event = {"id": "cmpl-bench", "choices": [{"index": 0, "text": f"t{index}"}]}
            if index == events - 1:
                event["usage"] = {"prompt_tokens": 10, "completion_tokens": events}
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            await asyncio.sleep(gap_s)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    serve_upstream_app(completions, None, port_queue)


@contextmanager
def streaming_upstream(events: int, gap_s: float) -> Iterator[str]:
    with upstream_child(_serve_streaming_upstream, events, gap_s) as upstream:
        yield upstream


async def _stream_gaps(url: str, requests: int, concurrency: int) -> tuple[list[float], list[float], int]:
    """(gaps between consecutive chunks as the client reads them, time to first chunk, errors)."""
    import aiohttp

    body = json.dumps({"model": "m", "prompt": "hello", "stream": True}).encode()
    gaps: list[float] = []
    first_chunk: list[float] = []
    errors = 0
    remaining = iter(range(requests))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal errors
            for _ in remaining:
                sent = time.perf_counter()
                async with session.post(url, data=body, headers={"content-type": "application/json"}) as resp:
                    if resp.status != 200:
                        errors += 1
                        await resp.read()
                        continue
                    previous = None
                    async for _chunk in resp.content.iter_any():
                        now = time.perf_counter()
                        if previous is None:
                            first_chunk.append(now - sent)
                        else:
                            gaps.append(now - previous)
                        previous = now

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return gaps, first_chunk, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20, help="SSE events per response")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="upstream pause between events")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--response-body-mode",
        type=BodyMode,
        nargs="+",
        default=[BodyMode.FULL_DUPLEX_STREAMED],
        help="ext_proc response_body_mode(s) to measure the picker with",
    )
    parser.add_argument("--picker-tls", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--output", type=Path, default=None, help="also append the table (markdown) here")
    args = parser.parse_args()

    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="picker-bench-sse-") as work_dir,
        streaming_upstream(args.events, args.gap_ms / 1000) as upstream,
        picker_process(Path(work_dir), [upstream], args.picker_tls, 1) as (picker_port, picker_pid),
    ):
        gateways = {"envoy round-robin": EnvoyBootstrapSpec(endpoints=(upstream,))}
        for mode in args.response_body_mode:
            gateways[f"envoy + picker, response {mode.value}"] = EnvoyBootstrapSpec(
                picker=PickerConnection(port=picker_port, tls=args.picker_tls, response_body_mode=mode)
            )
        for name, spec in gateways.items():
            with EnvoyProcess(build_bootstrap(spec)) as envoy:
                url = f"http://127.0.0.1:{envoy.listener_port}/v1/completions"
                asyncio.run(_stream_gaps(url, 4, 2))  # warm-up
                cpu_before = process_cpu_s(picker_pid)
                gaps, first, errors = asyncio.run(_stream_gaps(url, args.requests, args.concurrency))
                cpu_after = process_cpu_s(picker_pid)
                cpu = (
                    (cpu_after - cpu_before) * 1000 / args.requests
                    if "picker" in name and cpu_before is not None and cpu_after is not None
                    else None
                )
                rows.append((name, gaps, first, errors, cpu))
                print(f"{name}: gap p50 {percentile_ms(gaps, 0.5):.2f} ms", file=sys.stderr)

    lines = [
        f"`{command_line()}`  ",
        f"{args.requests} streamed requests ({args.events} events, {args.gap_ms:g} ms apart upstream), "
        f"{args.concurrency} in flight, picker TLS {'on' if args.picker_tls else 'off'}.",
        "",
        "| gateway | gap p10 ms | gap p50 ms | gap p90 ms | gaps < 2 ms | first chunk p50 ms | errors "
        "| picker CPU ms/request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, gaps, first, errors, cpu in rows:
        bunched = sum(gap < 0.002 for gap in gaps) / len(gaps) if gaps else float("nan")
        lines.append(
            f"| {name} | {percentile_ms(gaps, 0.1):.2f} | {percentile_ms(gaps, 0.5):.2f} | "
            f"{percentile_ms(gaps, 0.9):.2f} | {bunched:.0%} | {statistics.median(first) * 1000:.2f} | "
            f"{errors} | {'-' if cpu is None else f'{cpu:.2f}'} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output is not None:
        with args.output.open("a") as output:
            output.write(table + "\n")


if __name__ == "__main__":
    main()
