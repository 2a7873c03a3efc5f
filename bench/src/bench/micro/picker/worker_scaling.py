"""Picker capacity per core: the sustained request rate through Envoy with ``--workers 1`` and
``--workers 2``, per shipped profile, with and without response-body processing, and the picker's CPU
(supervisor and workers together) per request. Feeds the capacity-planning table in docs/picker.md.

    .venv/bin/python -m bench.micro.picker.worker_scaling                       # defaults: 6 s runs, 2 repeats
    .venv/bin/python -m bench.micro.picker.worker_scaling --profiles precise --repeats 3

Upstreams answer instantly, so the picker (and Envoy, and the load generator, all on the same machine)
are the bottleneck. One and two workers run side by side and alternate, so machine noise hits both; the
load average is printed with the table. Envoy opens one picker connection per 4 streams in flight
(``max_streams_per_connection``) for both, since the kernel spreads connections, not streams, over
workers. Nothing here asserts: it prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import multiprocessing
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.micro.command_line import command_line
from bench.micro.picker.envoy_overhead import (
    picker_process,
    process_cpu_s,
    run_closed_loop,
    upstream_processes,
)
from infgw.envoy import (
    WORKER_STREAMS_PER_CONNECTION,
    BodyMode,
    EnvoyBootstrapSpec,
    PickerConnection,
    build_bootstrap,
)
from infgw.launch.envoy_process import EnvoyProcess

IDLE_WINDOW_S = 3.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    tree = [pid]
    for member in tree:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{member}/task").iterdir():
                tree += [int(child) for child in (task / "children").read_text().split()]
    return tree


def tree_cpu_s(pid: int) -> float:
    return sum(process_cpu_s(member) or 0.0 for member in process_tree(pid))


def tree_wakeups(pid: int) -> int:
    """Voluntary context switches of every thread in the tree: how often its processes slept and woke."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{member}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
    return total


def tree_rss_mib(pid: int) -> list[float]:
    """Resident memory of each process in the tree (supervisor first), MiB."""
    sizes = []
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
    return sizes


@dataclass
class Cell:
    rps: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    supervisor_ms: list[float] = field(default_factory=list)  # of cpu_ms: the supervisor's (2 workers)
    wakeups: list[float] = field(default_factory=list)  # voluntary context switches per request
    errors: int = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["default", "recommended", "precise"])
    parser.add_argument("--upstreams", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop requests in flight")
    parser.add_argument("--duration-s", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None, help="also append the table (markdown) here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from picker.profiles import profile_text

    results: dict[tuple[str, str, int], Cell] = {}
    baseline = Cell()
    memory: dict[tuple[str, int], list[float]] = {}
    idle: dict[tuple[str, int], float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="picker-workers-") as work_dir,
        upstream_processes(args.upstreams) as upstreams,
        EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(endpoints=tuple(upstreams)))) as round_robin,
        ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as load,
    ):
        rr_url = f"http://127.0.0.1:{round_robin.listener_port}/v1/completions"
        for profile in args.profiles:
            with contextlib.ExitStack() as stack:
                gateways: dict[tuple[str, int], tuple[str, int]] = {}
                for workers in (1, 2):
                    port, pid = stack.enter_context(picker_process(
                        Path(work_dir) / f"{profile}-{workers}", upstreams, False, args.seed, None,
                        ("--config-text", profile_text(profile), "--workers", str(workers))))  # fmt: skip
                    for body, mode in (("full", BodyMode.FULL_DUPLEX_STREAMED), ("none", BodyMode.NONE)):
                        connection = PickerConnection(port=port, tls=False, response_body_mode=mode,
                                                      max_streams_per_connection=WORKER_STREAMS_PER_CONNECTION)
                        envoy = stack.enter_context(EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(picker=connection))))
                        gateways[(body, workers)] = (f"http://127.0.0.1:{envoy.listener_port}/v1/completions", pid)
                for url, _ in gateways.values():  # warm-up: connections open, first scrapes done
                    load.submit(run_closed_loop, url, args.concurrency, 2.0, args.seed).result()
                # Each picker's background CPU (every worker scrapes every endpoint every 50 ms), subtracted
                # per request below: the table is the cost of requests, and the idle cost is reported apart.
                idle_rate, own_idle_rate = {}, {}  # the tree's, and the supervisor's own (2 workers)
                for workers in (1, 2):
                    pid = gateways[("full", workers)][1]
                    before, own_before, started = tree_cpu_s(pid), process_cpu_s(pid) or 0.0, time.perf_counter()
                    time.sleep(IDLE_WINDOW_S)
                    elapsed = time.perf_counter() - started
                    idle_rate[pid] = (tree_cpu_s(pid) - before) / elapsed
                    own_idle_rate[pid] = ((process_cpu_s(pid) or 0.0) - own_before) / elapsed
                    idle[(profile, workers)] = idle_rate[pid]
                for repeat in range(args.repeats):
                    if profile == args.profiles[0]:
                        run = load.submit(run_closed_loop, rr_url, args.concurrency, args.duration_s, args.seed).result()
                        baseline.rps.append(len(run.latencies_s) / run.elapsed_s)
                    for (body, workers), (url, pid) in gateways.items():
                        cpu_before, own_before, wakeups_before = tree_cpu_s(pid), process_cpu_s(pid) or 0.0, tree_wakeups(pid)
                        run = load.submit(
                            run_closed_loop, url, args.concurrency, args.duration_s, args.seed + repeat
                        ).result()
                        cpu_s = tree_cpu_s(pid) - cpu_before - idle_rate[pid] * run.elapsed_s
                        own_s = (process_cpu_s(pid) or 0.0) - own_before - own_idle_rate[pid] * run.elapsed_s
                        wakeups = tree_wakeups(pid) - wakeups_before
                        cell = results.setdefault((profile, body, workers), Cell())
                        requests = len(run.latencies_s) + run.errors
                        cell.rps.append(len(run.latencies_s) / run.elapsed_s)
                        cell.cpu_ms.append(cpu_s * 1000 / max(1, requests))
                        cell.supervisor_ms.append(own_s * 1000 / max(1, requests) if workers > 1 else 0.0)
                        cell.wakeups.append(wakeups / max(1, requests))
                        cell.errors += run.errors
                        print(f"[{repeat}] {profile} body={body} workers={workers}: {cell.rps[-1]:.0f} req/s, "
                              f"{cell.cpu_ms[-1]:.2f} CPU ms/request, errors {run.errors}", file=sys.stderr)
                for (_, workers), (_, pid) in gateways.items():
                    memory[(profile, workers)] = tree_rss_mib(pid)
    table = render(args, results, baseline, memory, idle, load_before)
    print(table)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("a") as output:
            output.write(table + "\n")


def render(args: argparse.Namespace, results: dict[tuple[str, str, int], Cell], baseline: Cell,
           memory: dict[tuple[str, int], list[float]], idle: dict[tuple[str, int], float],
           load_before: tuple[float, float, float]) -> str:
    median = statistics.median
    rr = median(baseline.rps)
    lines = [
        f"## Picker workers: sustained rate and CPU per request ({datetime.date.today().isoformat()})",
        "",
        f"`{command_line()}`  ",
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, {args.upstreams} "
        f"instant upstreams, {args.concurrency} requests in flight, {args.duration_s:g} s runs, medians of "
        f"{args.repeats} alternating repeats; load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after. Envoy round-robin (no picker): {rr:.0f} req/s.",
        "",
        "CPU per request: the picker's processes (supervisor and workers) during the run, less their idle "
        "(scraping) CPU measured beforehand; per core: 1000 / that. Of it, the supervisor's own; wake-ups: "
        "voluntary context switches of all the picker's threads per request (an event loop that finds less "
        "work per turn wakes more often per request).",
        "",
        "| profile | response body | req/s, 1 worker | req/s, 2 workers | 2 / 1 | CPU ms/request, 1 | "
        "CPU ms/request, 2 (supervisor) | wake-ups/request, 1 / 2 | req/s per picker core (1 worker) | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for profile in args.profiles:
        for body in ("full", "none"):
            one, two = results[(profile, body, 1)], results[(profile, body, 2)]
            per_core = 1000 / median(one.cpu_ms)
            lines.append(
                f"| {profile} | {'processed' if body == 'full' else 'not sent'} | {median(one.rps):.0f} "
                f"| {median(two.rps):.0f} | {median(two.rps) / median(one.rps):.2f} | {median(one.cpu_ms):.2f} "
                f"| {median(two.cpu_ms):.2f} ({median(two.supervisor_ms):.2f}) "
                f"| {median(one.wakeups):.2f} / {median(two.wakeups):.2f} | {per_core:.0f} | {one.errors + two.errors} |")
    lines += ["", "Idle CPU (scraping, discovery; % of one core) and resident memory after the runs (MiB; "
              "supervisor first, then workers):", ""]
    for (profile, workers), sizes in memory.items():
        lines.append(f"- {profile}, {workers} worker(s): idle {100 * idle[(profile, workers)]:.1f}% CPU; RSS "
                     + ", ".join(f"{size:.0f}" for size in sizes))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
