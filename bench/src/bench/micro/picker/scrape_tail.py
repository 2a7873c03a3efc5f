"""Where the picker's tail at one request in flight comes from: the metrics scrapes, on the picker's side or on
the replicas'. Envoy + picker in front of 4 zero-latency simulator replicas (as `make bench`'s overhead phase),
one non-streamed request at a time, in three setups, alternated:

- ``scrape 50ms``: the picker as shipped (each replica's /metrics every 50 ms, parsed in its event loop);
- ``scrape 1s``: the picker scraping 20x less often;
- ``scrape 1s + outside 50ms``: the same, plus another process GETting every replica's /metrics every 50 ms
  without parsing it (the replicas' load of the shipped picker, without the picker's parse).

Per setup: client percentiles, and Envoy's timing-log medians (all requests, and the requests at or above the
client's p99): the routing round trip (picker), the upstream (replica) and the response headers' round trip.

Run from the repository root:

    .venv/bin/python -m bench.micro.picker.scrape_tail --repeats 2 --duration-s 15
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from bench.micro.command_line import command_line
from bench.micro.picker.envoy_overhead import picker_process
from bench.micro.picker.one_in_flight import (
    ACCESS_LOG_FLUSH_S,
    ENVOY_ARGS,
    run_one_at_a_time,
    timing_lines,
    timing_value_ms,
)
from bench.stats.percentiles import percentile_or_nan
from infgw.envoy import EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.replica_process import ReplicaProcess

SETUPS = {  # name: (picker flags, outside scraper)
    "scrape 50ms": ((), False),
    "scrape 1s": (("--refresh-metrics-interval", "1s"), False),
    "scrape 1s + outside 50ms": (("--refresh-metrics-interval", "1s"), True),
}
PHASES = {  # Envoy timing-log field: column
    "request_phases_us": "routing round trip",
    "upstream_us": "upstream",
    "response_headers_us": "response headers",
}


async def _scrape_forever(urls: list[str], interval_s: float) -> None:
    import aiohttp

    async def one(session: aiohttp.ClientSession, url: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            async with session.get(url) as response:
                await response.read()
            await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, url) for url in urls))


def _measure(args: argparse.Namespace, setup: str, replicas: list[str], work_dir: Path,
             load: ProcessPoolExecutor) -> list[str]:  # fmt: skip
    flags, outside = SETUPS[setup]
    with ExitStack() as stack:
        if outside:
            metrics_urls = [f"http://{address}/metrics" for address in replicas]
            scraper = subprocess.Popen(
                [sys.executable, "-m", "bench.micro.picker.scrape_tail", "--scrape", *metrics_urls]
            )
            stack.callback(scraper.wait)
            stack.callback(scraper.kill)
        port, _ = stack.enter_context(picker_process(work_dir, replicas, True, args.seed, extra_args=flags))
        timing_log = work_dir / "envoy-timing.jsonl"
        spec = EnvoyBootstrapSpec(picker=PickerConnection(port=port, tls=True), timing_log=timing_log)
        envoy = stack.enter_context(EnvoyProcess(build_bootstrap(spec), extra_args=ENVOY_ARGS))
        url = f"http://127.0.0.1:{envoy.listener_port}/v1/completions"
        load.submit(run_one_at_a_time, url, False, 2.0, args.seed).result()  # warm-up
        time.sleep(ACCESS_LOG_FLUSH_S)  # the warm-up's lines are written before they are counted
        skip = len(timing_lines(timing_log))
        run = load.submit(run_one_at_a_time, url, False, args.duration_s, args.seed).result()
        time.sleep(ACCESS_LOG_FLUSH_S)
        timings = timing_lines(timing_log)[skip:]
    e2e_ms = [seconds * 1000 for seconds in run.e2e_s]
    p99 = percentile_or_nan(e2e_ms, 99)
    row = [setup, str(len(e2e_ms))] + [f"{percentile_or_nan(e2e_ms, q):.2f}" for q in (50, 90, 99, 99.9)]
    # One in flight: Envoy logs the requests in the client's order; without errors, line i is request i.
    slow = (
        [t for t, ms in zip(timings, e2e_ms, strict=False) if ms >= p99]
        if len(timings) == len(e2e_ms)
        else []
    )
    for key in PHASES:
        everyone = [v for t in timings if (v := timing_value_ms(t, key)) is not None]
        tail = [v for t in slow if (v := timing_value_ms(t, key)) is not None]
        row.append(f"{statistics.median(everyone):.2f} / {statistics.median(tail):.2f}" if tail else "-")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration-s", type=float, default=15.0, help="seconds per setup and repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scrape", nargs="+", metavar="URL", help=argparse.SUPPRESS)  # the outside scraper
    args = parser.parse_args()
    if args.scrape:
        asyncio.run(_scrape_forever(args.scrape, 0.05))
        return
    load_before = os.getloadavg()
    rows: list[list[str]] = []
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="picker-scrape-tail-")))
        replicas = []
        for index in range(4):
            replica = stack.enter_context(ReplicaProcess(
                f"replica-{index}", work_dir / f"replica-{index}.log", ["--profile", "zero-latency", "--model", "m"]
            ))  # fmt: skip
            replicas.append(replica.url.split("//", 1)[1].rstrip("/"))
        load = stack.enter_context(ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")))
        for repeat in range(args.repeats):
            for index, setup in enumerate(SETUPS):
                run_dir = work_dir / f"run-{repeat}-{index}"
                run_dir.mkdir()
                rows.append(_measure(args, setup, replicas, run_dir, load))
                print(f"[{repeat}] {' | '.join(rows[-1])}", file=sys.stderr)
    print(f"`{command_line()}`  ")
    print(
        f"{os.cpu_count()} CPUs; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after.\n"
    )
    print("| setup | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | "
          + " | ".join(f"{name} ms, median all / >= p99" for name in PHASES.values()) + " |")  # fmt: skip
    print("|---|" + "---:|" * (5 + len(PHASES)))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
