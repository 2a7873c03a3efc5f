"""What the picker adds to one request when it is the only one in flight, and where in the exchange the time
goes: Envoy round-robin and Envoy + picker (one picker per variant, each behind its own Envoy) to the same
instant upstream, non-streamed and streamed requests, interleaved repeats.

Run from the repository root:

    .venv/bin/python -m bench.micro.picker.one_in_flight
    .venv/bin/python -m bench.micro.picker.one_in_flight --picker 'before@main=' --picker 'after=' --repeats 5
    .venv/bin/python -m bench.micro.picker.one_in_flight --picker 'uvloop=' --picker 'asyncio=--uvloop=false'

``--picker NAME[@GIT_REF]=FLAGS``: a picker variant named NAME, started with the extra picker flags FLAGS
(shell-split), from this checkout's sources or, with ``@GIT_REF``, from that commit's ``picker/src`` (a
temporary git worktree, removed at the end; its dependencies are this venv's).

Per gateway and kind it reports the client's latency (e2e; time to the first body chunk when streamed), the
picker's CPU per request (from /proc, its idle rate subtracted: robust to other load), and from Envoy's
timing log (``EnvoyBootstrapSpec.timing_log``) where the time went: Envoy waiting for the picker's answer
to the request phases (headers + body: the routing decision), for the response headers, and for the
response body's last answer. At one in flight the wall clock is load-sensitive: compare the CPU column
across variants, and rows within one run. Nothing here asserts: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import multiprocessing
import os
import platform
import shlex
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.micro.command_line import command_line
from bench.micro.picker.envoy_overhead import (
    append_table,
    percentile_ms,
    picker_process,
    process_cpu_s,
    serve_upstream_app,
    upstream_child,
)
from bench.micro.picker.request_cost import baseline_source
from infgw.envoy import EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.launch.envoy_process import EnvoyProcess

ROUND_ROBIN = "envoy round-robin"


# --- the upstream: JSON, or SSE when the body asks for a stream -------------------------------------


def _serve_upstream(events: int, port_queue: multiprocessing.Queue) -> None:  # a child process
    from aiohttp import web

    reply = json.dumps(
        {"id": "cmpl-bench", "object": "text_completion", "model": "m",
         "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 250, "completion_tokens": 1, "total_tokens": 251}}
    ).encode()  # fmt: skip
    chunks = [
        b"data: " + json.dumps({"id": "cmpl-bench", "choices": [{"index": 0, "text": f"t{index}"}]}).encode()
        + b"\n\n"
        for index in range(events)
    ]  # fmt: skip
    chunks.append(b'data: {"id":"cmpl-bench","choices":[],"usage":{"prompt_tokens":250,"completion_tokens":'
                  + str(events).encode() + b"}}\n\ndata: [DONE]\n\n")  # fmt: skip

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.Response(body=reply, content_type="application/json")
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:  # one write per event, as a model server writes them
            await response.write(chunk)
        await response.write_eof()
        return response

    serve_upstream_app(completions, None, port_queue)


# --- the client: one request at a time (in its own process) ----------------------------------------


@dataclass(frozen=True)
class OneAtATime:
    """Latencies (seconds) of one closed-loop run with one request in flight."""

    e2e_s: list[float]
    first_chunk_s: list[float]
    errors: int


async def _one_at_a_time(url: str, stream: bool, duration_s: float, seed: int) -> OneAtATime:
    import aiohttp

    words = ["gateway", "replica", "prefix", "cache", "token", "queue", "lora", "model", "pool", "route"]
    e2e: list[float] = []
    first: list[float] = []
    errors = 0
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession() as session:
        deadline = time.perf_counter() + duration_s
        index = seed * 1_000_000
        while time.perf_counter() < deadline:
            index += 1
            prompt = " ".join(words[(index * 7 + i) % len(words)] for i in range(150))
            body = json.dumps(
                {"model": "m", "prompt": f"{index} {prompt}", "max_tokens": 8, "stream": stream}
            )
            sent = time.perf_counter()
            first_at = None
            try:
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    async for _chunk in response.content.iter_any():
                        if first_at is None:
                            first_at = time.perf_counter()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if not ok:
                errors += 1
                continue
            done = time.perf_counter()
            e2e.append(done - sent)
            first.append((first_at or done) - sent)
    return OneAtATime(e2e, first, errors)


def run_one_at_a_time(url: str, stream: bool, duration_s: float, seed: int) -> OneAtATime:
    return asyncio.run(_one_at_a_time(url, stream, duration_s, seed))


# --- picker variants --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickerVariant:
    """``NAME[@GIT_REF]=FLAGS``: a name, the commit whose picker sources to run (None: this checkout's)."""

    name: str
    ref: str | None
    flags: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> PickerVariant:
        label, separator, flags = text.partition("=")
        name, _, ref = label.partition("@")
        if not separator or not name:
            raise argparse.ArgumentTypeError(
                f"--picker {text!r}: use NAME[@GIT_REF]=FLAGS, e.g. 'after=' or 'asyncio=--uvloop=false'"
            )
        return cls(name, ref or None, tuple(shlex.split(flags)))


# --- measurement --------------------------------------------------------------------------------------


@dataclass
class Gateway:
    name: str
    url: str
    picker_pid: int | None = None
    timing_log: Path | None = None
    idle_cpu_per_s: float = 0.0


@dataclass
class Kind:
    """One gateway's runs of one kind (streamed or not), all repeats."""

    e2e_p50_ms: list[float] = field(default_factory=list)
    e2e_p90_ms: list[float] = field(default_factory=list)
    first_chunk_p50_ms: list[float] = field(default_factory=list)
    picker_cpu_ms: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    timings: list[dict[str, object]] = field(default_factory=list)


# Envoy writes its timing log at least this often (--file-flush-interval-msec); read it after twice that.
_FLUSH_INTERVAL_MS = 200
ACCESS_LOG_FLUSH_S = 2 * _FLUSH_INTERVAL_MS / 1000
ENVOY_ARGS = ("--file-flush-interval-msec", str(_FLUSH_INTERVAL_MS))


def timing_lines(path: Path | None) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path and path.exists() else []


def is_streamed(timing: dict[str, object]) -> bool:
    """Whether a timing-log line is a streamed (SSE) answer's."""
    return "text/event-stream" in str(timing.get("response_content_type", ""))


def timing_value_ms(entry: dict[str, object], key: str) -> float | None:
    """One timing-log line's field (microseconds; ``ext_proc.NAME`` for the filter's struct) in ms; None
    where Envoy logged none ("-" or absent)."""
    value = entry.get(key)
    if key.startswith("ext_proc."):
        ext_proc = entry.get("ext_proc")
        value = ext_proc.get(key.removeprefix("ext_proc.")) if isinstance(ext_proc, dict) else None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return float(value) / 1000
    return None


def timing_median_ms(timings: list[dict[str, object]], key: str) -> str:
    """Median of one timing-log field (microseconds) in ms; "-" where Envoy logged none."""
    values = [value for entry in timings if (value := timing_value_ms(entry, key)) is not None]
    return f"{statistics.median(values):.3f}" if values else "-"


def measure_idle_cpu(gateways: list[Gateway], seconds: float = 3.0) -> None:
    """Each picker's background CPU rate (metrics scraping), subtracted from its per-request figure."""
    before = {g.name: process_cpu_s(g.picker_pid) for g in gateways if g.picker_pid is not None}
    started = time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    for gateway in gateways:
        start = before.get(gateway.name)
        end = process_cpu_s(gateway.picker_pid) if gateway.picker_pid is not None else None
        if start is not None and end is not None:
            gateway.idle_cpu_per_s = (end - start) / elapsed


def run_phase(load: ProcessPoolExecutor, gateway: Gateway, stream: bool, duration_s: float, seed: int,
              into: Kind) -> None:  # fmt: skip
    cpu_before = process_cpu_s(gateway.picker_pid) if gateway.picker_pid is not None else None
    started = time.perf_counter()
    run = load.submit(run_one_at_a_time, gateway.url, stream, duration_s, seed).result()
    elapsed = time.perf_counter() - started
    cpu_after = process_cpu_s(gateway.picker_pid) if gateway.picker_pid is not None else None
    served = len(run.e2e_s)
    into.requests += served
    into.errors += run.errors
    into.e2e_p50_ms.append(percentile_ms(run.e2e_s, 0.5))
    into.e2e_p90_ms.append(percentile_ms(run.e2e_s, 0.9))
    into.first_chunk_p50_ms.append(percentile_ms(run.first_chunk_s, 0.5))
    if cpu_before is not None and cpu_after is not None and served:
        busy_s = (cpu_after - cpu_before) - gateway.idle_cpu_per_s * elapsed
        into.picker_cpu_ms.append(busy_s * 1000 / (served + run.errors))


# --- report -------------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(args: argparse.Namespace, results: dict[tuple[str, bool], Kind], names: list[str],
           load_before: tuple[float, float, float], load_after: tuple[float, float, float]) -> str:  # fmt: skip
    lines = [
        f"## The picker at one request in flight ({datetime.date.today().isoformat()})",
        "",
        f"`{command_line()}`  ",
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, one instant upstream, "
        f"picker TLS {'on' if args.picker_tls else 'off'}, {args.repeats} interleaved repeats of "
        f"{args.duration_s:g} s per gateway and kind (medians of the repeats' percentiles); load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after.",
        "",
        "| gateway | kind | requests | p50 ms | p90 ms | added p50 ms | first chunk p50 ms | picker CPU ms/request "
        "| Envoy waits: request phases ms | response headers ms | response body ms | upstream ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for stream in (False, True):
        baseline = _median(results[(ROUND_ROBIN, stream)].e2e_p50_ms)
        for name in names:
            kind = results[(name, stream)]
            p50 = _median(kind.e2e_p50_ms)
            cpu = f"{_median(kind.picker_cpu_ms):.3f}" if kind.picker_cpu_ms else "-"
            errors = f" ({kind.errors} errors)" if kind.errors else ""
            lines.append(
                f"| {name} | {'streamed' if stream else 'non-streamed'} | {kind.requests}{errors} | {p50:.2f} | "
                f"{_median(kind.e2e_p90_ms):.2f} | {p50 - baseline:+.2f} | {_median(kind.first_chunk_p50_ms):.2f} | "
                f"{cpu} | {timing_median_ms(kind.timings, 'ext_proc.request_header_latency_us')} | "
                f"{timing_median_ms(kind.timings, 'ext_proc.response_header_latency_us')} | "
                f"{timing_median_ms(kind.timings, 'response_body_us')} | "
                f"{timing_median_ms(kind.timings, 'upstream_us')} |"
            )
    lines += [
        "",
        "Envoy waits (medians, from its timing log): for the answer to the request phases (the picker holds "
        "its headers answer until the body is in, so this is the routing round trip), for the answer to the "
        "response headers, and from the upstream's last byte to the client's last (the response body's "
        "answers); upstream: Envoy's request to the upstream's first byte.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--picker", dest="pickers", type=PickerVariant.parse, action="append", default=None,
        metavar="NAME[@GIT_REF]=FLAGS", help="a picker variant (repeatable; default: one, 'envoy + picker=')",
    )  # fmt: skip
    parser.add_argument("--duration-s", type=float, default=3.0, help="seconds per gateway, kind and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (the order rotates)")
    parser.add_argument("--events", type=int, default=8, help="SSE events per streamed response")
    parser.add_argument("--picker-tls", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None, help="also append the table (markdown) here")
    args = parser.parse_args()
    variants: list[PickerVariant] = args.pickers or [PickerVariant("envoy + picker", None, ())]
    if len({v.name for v in variants} | {ROUND_ROBIN}) != len(variants) + 1:
        parser.error("--picker names must be distinct (and not 'envoy round-robin')")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()

    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="picker-one-in-flight-")))
        upstream = stack.enter_context(upstream_child(_serve_upstream, args.events))
        baseline_log = work_dir / "round-robin-timing.jsonl"
        baseline = stack.enter_context(
            EnvoyProcess(
                build_bootstrap(EnvoyBootstrapSpec(endpoints=(upstream,), timing_log=baseline_log)),
                extra_args=ENVOY_ARGS,
            )
        )
        url = f"http://127.0.0.1:{baseline.listener_port}/v1/completions"
        gateways = [Gateway(ROUND_ROBIN, url, timing_log=baseline_log)]
        for index, variant in enumerate(variants):
            picker_dir = work_dir / f"picker-{index}"
            picker_dir.mkdir()
            sources = stack.enter_context(baseline_source(variant.ref, picker_dir))
            env = {"PYTHONPATH": str(sources)} if sources is not None else None
            port, pid = stack.enter_context(
                picker_process(
                    picker_dir, [upstream], args.picker_tls, args.seed, extra_args=variant.flags, env=env
                )
            )
            timing_log = picker_dir / "envoy-timing.jsonl"
            spec = EnvoyBootstrapSpec(
                picker=PickerConnection(port=port, tls=args.picker_tls), timing_log=timing_log
            )
            envoy = stack.enter_context(EnvoyProcess(build_bootstrap(spec), extra_args=ENVOY_ARGS))
            gateways.append(Gateway(variant.name, f"http://127.0.0.1:{envoy.listener_port}/v1/completions", pid,
                                    timing_log))  # fmt: skip
        load = stack.enter_context(
            ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        )
        for gateway in gateways:  # warm-up: connections open, first scrapes done, code paths loaded
            for stream in (False, True):
                load.submit(run_one_at_a_time, gateway.url, stream, 1.0, args.seed).result()
        measure_idle_cpu(gateways)  # also lets Envoy flush the warm-up's timing lines, skipped below
        warm_up_lines = {g.name: len(timing_lines(g.timing_log)) for g in gateways}
        results = {(g.name, stream): Kind() for g in gateways for stream in (False, True)}
        for repeat in range(args.repeats):
            shift = repeat % len(gateways)
            for gateway in gateways[shift:] + gateways[:shift]:
                for stream in (False, True):
                    kind = results[(gateway.name, stream)]
                    run_phase(load, gateway, stream, args.duration_s, args.seed + repeat, kind)
                    print(f"[{repeat}] {gateway.name} {'streamed' if stream else 'non-streamed'}: p50 "
                          f"{kind.e2e_p50_ms[-1]:.2f} ms, CPU {kind.picker_cpu_ms[-1] if kind.picker_cpu_ms else 0:.3f} "
                          f"ms/request", file=sys.stderr)  # fmt: skip
        time.sleep(ACCESS_LOG_FLUSH_S)
        for gateway in gateways:
            for timing in timing_lines(gateway.timing_log)[warm_up_lines[gateway.name] :]:
                results[(gateway.name, is_streamed(timing))].timings.append(timing)
    table = render(args, results, [g.name for g in gateways], load_before, os.getloadavg())
    print(table)
    append_table(args.output, table)


if __name__ == "__main__":
    main()
