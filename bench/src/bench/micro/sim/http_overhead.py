"""How much the simulator's HTTP layer costs: the zero-latency simulator against a bare aiohttp server.

Both servers run as subprocesses on 127.0.0.1 and answer the same completion (same token count, same
body shape); the baseline does nothing but return a canned body, so the ratio is the price of request
validation, tokenization, the engine loop, metrics and SSE framing. Prints one table row per
(mode, concurrency) with requests/s, p50/p99 latency and the ratio to the baseline.

    .venv/bin/python -m bench.micro.sim.http_overhead --requests 2000 --concurrency 1 --concurrency 16
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import aiohttp
import typer
from aiohttp import web
from rich.console import Console
from rich.table import Table
from sim.readiness_line import SimReadinessLine

from bench.stats.percentiles import percentile_or_nan
from infgw.launch.child_process import ChildProcess
from infgw.launch.readiness import wait_ready_line_blocking
from infgw.launch.replica_process import ReplicaProcess

OUTPUT_TOKENS = 16
PROMPT = "What is the best pizza in the world?"

app = typer.Typer(add_completion=False, help=__doc__)


@dataclass(frozen=True)
class RunResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float


def _baseline_app() -> web.Application:
    """Answers like the simulator, with nothing behind it."""
    body = {
        "id": "cmpl-baseline",
        "object": "text_completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "text": " pizza" * OUTPUT_TOKENS,
                "logprobs": None,
                "finish_reason": "length",
                "stop_reason": None,
                "prompt_logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 11,
            "total_tokens": 11 + OUTPUT_TOKENS,
            "completion_tokens": OUTPUT_TOKENS,
        },
    }
    chunk = json.dumps(
        {
            "id": "cmpl-baseline",
            "object": "text_completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "text": " pizza", "logprobs": None, "finish_reason": None, "stop_reason": None}
            ],
        }
    )

    async def completions(request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        if not payload.get("stream"):
            return web.json_response(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"data: {chunk}\n\n".encode() * OUTPUT_TOKENS + b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    application = web.Application()
    application.router.add_post("/v1/completions", completions)
    return application


async def _serve_baseline() -> None:
    runner = web.AppRunner(_baseline_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(SimReadinessLine(url=f"http://127.0.0.1:{port}", port=port, name="baseline").render(), flush=True)
    await asyncio.Event().wait()


async def _load(url: str, stream: bool, requests: int, concurrency: int) -> RunResult:
    payload = {
        "model": "m",
        "prompt": PROMPT,
        "max_tokens": OUTPUT_TOKENS,
        "ignore_eos": True,
        "stream": stream,
    }
    latencies: list[float] = []
    remaining = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for _ in remaining:
                started = time.perf_counter()
                async with session.post(f"{url}/v1/completions", json=payload) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url} answered {response.status}")
                latencies.append(time.perf_counter() - started)

        await worker_warmup(session, url, payload)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return RunResult(
        requests_per_s=requests / elapsed,
        p50_ms=percentile_or_nan(latencies, 50) * 1000,
        p99_ms=percentile_or_nan(latencies, 99) * 1000,
    )


async def worker_warmup(session: aiohttp.ClientSession, url: str, payload: dict[str, object]) -> None:
    for _ in range(20):
        async with session.post(f"{url}/v1/completions", json=payload) as response:
            await response.read()


@app.command()
def main(
    requests: Annotated[int, typer.Option(help="Requests per run.")] = 1000,
    concurrency: Annotated[list[int] | None, typer.Option(help="Concurrent clients (repeatable).")] = None,
    serve_baseline: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    if serve_baseline:
        asyncio.run(_serve_baseline())
        return
    levels = concurrency or [1, 16]
    with tempfile.TemporaryDirectory(prefix="sim-http-overhead-") as work_dir:
        baseline_argv = [sys.executable, "-m", "bench.micro.sim.http_overhead", "--serve-baseline"]
        with (
            ChildProcess("baseline", baseline_argv, Path(work_dir) / "baseline.log") as baseline,
            ReplicaProcess("sim", Path(work_dir) / "sim.log", ["--profile", "zero-latency", "--model", "m"]) as sim,
        ):
            baseline_url = wait_ready_line_blocking(baseline, SimReadinessLine, 60).url
            table = _measure(baseline_url, sim.url, requests, levels)
    Console().print(table)


def _measure(baseline_url: str, simulator_url: str, requests: int, levels: list[int]) -> Table:
    table = Table(title=f"simulator HTTP overhead ({requests} requests/run, {OUTPUT_TOKENS} output tokens)")
    for column in (
        "mode",
        "clients",
        "baseline req/s",
        "sim req/s",
        "sim/baseline",
        "baseline p50 ms",
        "sim p50 ms",
        "sim p99 ms",
    ):
        table.add_column(column, justify="right")
    for stream in (False, True):
        for clients in levels:
            base = asyncio.run(_load(baseline_url, stream, requests, clients))
            sim = asyncio.run(_load(simulator_url, stream, requests, clients))
            table.add_row(
                "stream" if stream else "json",
                str(clients),
                f"{base.requests_per_s:.0f}",
                f"{sim.requests_per_s:.0f}",
                f"{sim.requests_per_s / base.requests_per_s:.2f}",
                f"{base.p50_ms:.2f}",
                f"{sim.p50_ms:.2f}",
                f"{sim.p99_ms:.2f}",
            )
    return table


if __name__ == "__main__":
    app()
