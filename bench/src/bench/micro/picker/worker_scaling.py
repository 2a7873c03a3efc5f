"""Picker capacity per core: the sustained request rate through Envoy with ``--workers 1`` and
``--workers 2``, per shipped profile, with and without response-body processing, and the picker's CPU
(supervisor and workers together) per request. Feeds the capacity-planning table in docs/picker.md.

    .venv/bin/python -m bench.micro.picker.worker_scaling                       # defaults: 6 s runs, 2 repeats
    .venv/bin/python -m bench.micro.picker.worker_scaling --profiles precise --repeats 3
    .venv/bin/python -m bench.micro.picker.worker_scaling --harness python native   # both harnesses, one run

Upstreams answer instantly, so the picker (and Envoy, and the load generator, all on the same machine)
are the bottleneck. One and two workers run side by side and alternate, so machine noise hits both; the
load average is printed with the table. Envoy opens one picker connection per 4 streams in flight
(``max_streams_per_connection``) for both, since the kernel spreads connections, not streams, over
workers. ``--harness native`` swaps the Python upstreams and load generator for Envoy-answered upstreams and
wrk (bench.micro.picker.load_harness): what the harness costs is a column of the table. Nothing here
asserts: it prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.micro.command_line import command_line
from bench.micro.picker.envoy_overhead import append_table, picker_process, process_cpu_s
from bench.micro.picker.load_harness import ClosedLoopRun, HarnessKind, LoadHarness, load_harness
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
    envoy_ms: list[float] = field(default_factory=list)  # the gateway Envoy's CPU per request
    load_ms: list[float] = field(default_factory=list)  # the load generator's
    upstream_ms: list[float] = field(default_factory=list)  # the upstreams'
    busiest_share: list[float] = field(default_factory=list)  # the busiest worker's share of the workers' CPU
    errors: int = 0

    def add_harness(self, run: ClosedLoopRun, envoy_cpu_s: float) -> None:
        requests = max(1, run.completed + run.errors)
        self.rps.append(run.rate)
        self.envoy_ms.append(envoy_cpu_s * 1000 / requests)
        self.load_ms.append(run.load_cpu_s * 1000 / requests)
        self.upstream_ms.append(run.upstream_cpu_s * 1000 / requests)
        self.errors += run.errors

    def harness_ms(self) -> str:
        median = statistics.median
        return f"{median(self.envoy_ms):.2f} / {median(self.load_ms):.2f} / {median(self.upstream_ms):.2f}"


@dataclass(frozen=True)
class Gateway:
    url: str
    picker_pid: int
    envoy_pid: int


@dataclass
class Measurements:
    results: dict[tuple[str, str, str, int], Cell] = field(default_factory=dict)  # harness, profile, body, workers
    baselines: dict[str, Cell] = field(default_factory=dict)  # Envoy round-robin, by harness
    memory: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    idle: dict[tuple[str, str, int], float] = field(default_factory=dict)


def open_gateways(stack: contextlib.ExitStack, harness: LoadHarness, profile: str, work_dir: Path,
                  seed: int) -> dict[tuple[str, int], Gateway]:  # fmt: skip
    """A picker with 1 and one with 2 workers for ``profile``, each behind an Envoy per body mode."""
    from picker.profiles import profile_text

    gateways = {}
    for workers in (1, 2):
        port, pid = stack.enter_context(picker_process(
            work_dir / f"{harness.kind.value}-{profile}-{workers}", harness.upstreams, False, seed, None,
            ("--config-text", profile_text(profile), "--workers", str(workers))))  # fmt: skip
        for body, mode in (("full", BodyMode.FULL_DUPLEX_STREAMED), ("none", BodyMode.NONE)):
            connection = PickerConnection(port=port, tls=False, response_body_mode=mode,
                                          max_streams_per_connection=WORKER_STREAMS_PER_CONNECTION)  # fmt: skip
            envoy = stack.enter_context(EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(picker=connection))))
            assert envoy.child.pid is not None
            gateways[(body, workers)] = Gateway(
                f"http://127.0.0.1:{envoy.listener_port}/v1/completions", pid, envoy.child.pid
            )
    return gateways


def measure_profile(args: argparse.Namespace, profile: str, harnesses: list[LoadHarness],
                    round_robin: dict[str, Gateway], work_dir: Path, into: Measurements) -> None:  # fmt: skip
    """1 and 2 workers, both body modes, through every harness; repeats alternate harnesses and pickers, so
    machine noise hits them alike. Envoy round-robin is measured with the first profile."""
    with contextlib.ExitStack() as stack:
        gateways = {harness.kind.value: open_gateways(stack, harness, profile, work_dir, args.seed)
                    for harness in harnesses}  # fmt: skip
        for harness in harnesses:
            for gateway in gateways[harness.kind.value].values():  # warm-up: connections open, first scrapes done
                harness.run(gateway.url, args.concurrency, 2.0, args.seed)
        # Each picker's background CPU (every worker scrapes every endpoint every 50 ms), subtracted per
        # request below: the table is the cost of requests, and the idle cost is reported apart.
        idle_rate: dict[int, float] = {}  # the tree's
        own_idle_rate: dict[int, float] = {}  # the supervisor's own (2 workers)
        for kind, by_key in gateways.items():
            for workers in (1, 2):
                pid = by_key[("full", workers)].picker_pid
                before, own_before, started = tree_cpu_s(pid), process_cpu_s(pid) or 0.0, time.perf_counter()
                time.sleep(IDLE_WINDOW_S)
                elapsed = time.perf_counter() - started
                idle_rate[pid] = (tree_cpu_s(pid) - before) / elapsed
                own_idle_rate[pid] = ((process_cpu_s(pid) or 0.0) - own_before) / elapsed
                into.idle[(kind, profile, workers)] = idle_rate[pid]
        for repeat in range(args.repeats):
            for harness in harnesses:
                kind = harness.kind.value
                if profile == args.profiles[0]:
                    rr = round_robin[kind]
                    envoy_before = process_cpu_s(rr.envoy_pid) or 0.0
                    run = harness.run(rr.url, args.concurrency, args.duration_s, args.seed)
                    into.baselines.setdefault(kind, Cell()).add_harness(
                        run, (process_cpu_s(rr.envoy_pid) or 0.0) - envoy_before)  # fmt: skip
                for (body, workers), gateway in gateways[kind].items():
                    pid = gateway.picker_pid
                    cpu_before, own_before = tree_cpu_s(pid), process_cpu_s(pid) or 0.0
                    workers_before = {member: process_cpu_s(member) or 0.0 for member in process_tree(pid)[1:]}
                    wakeups_before, envoy_before = tree_wakeups(pid), process_cpu_s(gateway.envoy_pid) or 0.0
                    run = harness.run(gateway.url, args.concurrency, args.duration_s, args.seed + repeat)
                    cpu_s = tree_cpu_s(pid) - cpu_before - idle_rate[pid] * run.elapsed_s
                    own_s = (process_cpu_s(pid) or 0.0) - own_before - own_idle_rate[pid] * run.elapsed_s
                    wakeups = tree_wakeups(pid) - wakeups_before
                    cell = into.results.setdefault((kind, profile, body, workers), Cell())
                    requests = max(1, run.completed + run.errors)
                    cell.add_harness(run, (process_cpu_s(gateway.envoy_pid) or 0.0) - envoy_before)
                    cell.cpu_ms.append(cpu_s * 1000 / requests)
                    cell.supervisor_ms.append(own_s * 1000 / requests if workers > 1 else 0.0)
                    cell.wakeups.append(wakeups / requests)
                    if workers > 1:
                        worker_cpu = [(process_cpu_s(member) or 0.0) - before for member, before in workers_before.items()]
                        cell.busiest_share.append(max(worker_cpu) / max(1e-9, sum(worker_cpu)))
                    print(f"[{repeat}] {kind} {profile} body={body} workers={workers}: {cell.rps[-1]:.0f} req/s, "
                          f"{cell.cpu_ms[-1]:.2f} CPU ms/request, errors {run.errors}", file=sys.stderr)  # fmt: skip
        for kind, by_key in gateways.items():
            for (_, workers), gateway in by_key.items():
                into.memory[(kind, profile, workers)] = tree_rss_mib(gateway.picker_pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["default", "recommended", "precise"])
    parser.add_argument("--harness", nargs="+", type=HarnessKind, default=[HarnessKind.PYTHON],
                        choices=list(HarnessKind),
                        help="python: aiohttp upstreams and load generator; native: Envoy-answered upstreams "
                             "and wrk (apt-get install -y wrk); both: side by side in one run")  # fmt: skip
    parser.add_argument("--upstreams", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16,
                        help="closed-loop requests in flight (16 is latency-bound on 2 cores; 96 saturates the picker)")
    parser.add_argument("--duration-s", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None, help="also append the table (markdown) here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    measurements = Measurements()
    with tempfile.TemporaryDirectory(prefix="picker-workers-") as work_dir, contextlib.ExitStack() as stack:
        harnesses = [stack.enter_context(load_harness(kind, args.upstreams)) for kind in args.harness]
        round_robin = {}
        for harness in harnesses:
            envoy = stack.enter_context(EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(endpoints=tuple(harness.upstreams)))))
            assert envoy.child.pid is not None
            round_robin[harness.kind.value] = Gateway(
                f"http://127.0.0.1:{envoy.listener_port}/v1/completions", 0, envoy.child.pid
            )
        for profile in args.profiles:
            measure_profile(args, profile, harnesses, round_robin, Path(work_dir), measurements)
    table = render(args, measurements, load_before)
    print(table)
    append_table(args.output, table)


def render(args: argparse.Namespace, measurements: Measurements, load_before: tuple[float, float, float]) -> str:
    median = statistics.median
    results, baselines = measurements.results, measurements.baselines
    memory, idle = measurements.memory, measurements.idle
    round_robin = "; ".join(
        f"{kind}: {median(cell.rps):.0f} req/s, harness CPU ms/request {cell.harness_ms()}"
        for kind, cell in baselines.items()
    )
    lines = [
        f"## Picker workers: sustained rate and CPU per request ({datetime.date.today().isoformat()})",
        "",
        f"`{command_line()}`  ",
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, {args.upstreams} "
        f"instant upstreams, {args.concurrency} requests in flight, {args.duration_s:g} s runs, medians of "
        f"{args.repeats} alternating repeats; load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after. Envoy round-robin (no picker) by harness: {round_robin}.",
        "",
        "Harness: `python` = aiohttp upstreams (one process each) and an aiohttp load generator; `native` = one "
        "Envoy answering for every upstream and wrk. The native harness costs less CPU, leaving more of the "
        "machine to Envoy and the picker: a cheaper harness, not a faster picker.",
        "",
        "CPU per request: the picker's processes (supervisor and workers) during the run, less their idle "
        "(scraping) CPU measured beforehand; per core: 1000 / that. Of it, the supervisor's own; wake-ups: "
        "voluntary context switches of all the picker's threads per request (an event loop that finds less "
        "work per turn wakes more often per request). Harness CPU: the gateway Envoy's, the load "
        "generator's and the upstreams' per request, in the 2-worker runs. Busiest worker's share: of the two "
        "workers' CPU during a run, the larger part (50%: even).",
        "",
        "| harness | profile | response body | req/s, 1 worker | req/s, 2 workers | 2 / 1 | CPU ms/request, 1 | "
        "CPU ms/request, 2 (supervisor) | wake-ups/request, 1 / 2 | req/s per picker core (1 worker) "
        "| busiest worker's CPU share, 2 | harness CPU ms/request: Envoy / load / upstreams | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in baselines:
        for profile in args.profiles:
            for body in ("full", "none"):
                one, two = results[(kind, profile, body, 1)], results[(kind, profile, body, 2)]
                per_core = 1000 / median(one.cpu_ms)
                lines.append(
                    f"| {kind} | {profile} | {'processed' if body == 'full' else 'not sent'} | {median(one.rps):.0f} "
                    f"| {median(two.rps):.0f} | {median(two.rps) / median(one.rps):.2f} | {median(one.cpu_ms):.2f} "
                    f"| {median(two.cpu_ms):.2f} ({median(two.supervisor_ms):.2f}) "
                    f"| {median(one.wakeups):.2f} / {median(two.wakeups):.2f} | {per_core:.0f} "
                    f"| {100 * median(two.busiest_share):.0f}% | {two.harness_ms()} | {one.errors + two.errors} |")  # fmt: skip
    lines += ["", "Idle CPU (scraping, discovery; % of one core) and resident memory after the runs (MiB; "
              "supervisor first, then workers):", ""]
    for (kind, profile, workers), sizes in memory.items():
        lines.append(f"- {kind}, {profile}, {workers} worker(s): idle {100 * idle[(kind, profile, workers)]:.1f}% "
                     "CPU; RSS " + ", ".join(f"{size:.0f}" for size in sizes))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
