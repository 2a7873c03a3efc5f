"""What drives a gateway in the capacity benchmarks, apart from the gateway itself: the instant upstreams and
the closed-loop load generator, in two kinds.

- ``python``: four aiohttp upstream processes and an aiohttp load generator (``envoy_overhead``); what
  every other benchmark here uses.
- ``native``: one Envoy answering for every upstream (``envoy_upstreams``) and wrk (``wrk_load``): the same
  requests and answers at a fraction of the CPU, which on a small machine leaves more of it to the gateway
  and the picker. A cheaper harness, not a faster picker: report it as such.

Each reports the CPU its parts spent, so a table can say what the harness cost per request.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from bench.micro.picker.envoy_overhead import process_cpu_s, run_closed_loop, upstream_processes_and_pids
from bench.micro.picker.envoy_upstreams import envoy_upstreams
from bench.micro.picker.wrk_load import run_wrk_closed_loop, wrk_binary


class HarnessKind(StrEnum):
    PYTHON = "python"
    NATIVE = "native"


@dataclass(frozen=True)
class ClosedLoopRun:
    completed: int
    errors: int
    elapsed_s: float
    load_cpu_s: float  # the load generator's CPU during the run
    upstream_cpu_s: float  # the upstreams' CPU during the run

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed_s


class LoadHarness:
    """Upstreams (``upstreams``: ``127.0.0.1:port`` each) and a load generator; ``run`` drives a URL."""

    def __init__(self, kind: HarnessKind, upstreams: list[str], upstream_pids: list[int],
                 load: ProcessPoolExecutor | None) -> None:  # fmt: skip
        self.kind = kind
        self.upstreams = upstreams
        self._upstream_pids = upstream_pids
        self._load = load
        self._load_pid = load.submit(os.getpid).result() if load is not None else 0

    def _upstream_cpu_s(self) -> float:
        return sum(process_cpu_s(pid) or 0.0 for pid in self._upstream_pids)

    def run(self, url: str, concurrency: int, duration_s: float, seed: int) -> ClosedLoopRun:
        """A closed loop of ``concurrency`` requests in flight for ``duration_s``."""
        upstream_before = self._upstream_cpu_s()
        if self._load is None:
            wrk = run_wrk_closed_loop(url, concurrency, duration_s, seed)
            completed, errors, elapsed_s, load_cpu_s = wrk.completed, wrk.errors, wrk.elapsed_s, wrk.cpu_s
        else:
            load_before = process_cpu_s(self._load_pid) or 0.0
            result = self._load.submit(run_closed_loop, url, concurrency, duration_s, seed).result()
            completed, errors, elapsed_s = len(result.latencies_s), result.errors, result.elapsed_s
            load_cpu_s = (process_cpu_s(self._load_pid) or 0.0) - load_before
        return ClosedLoopRun(completed, errors, elapsed_s, load_cpu_s, self._upstream_cpu_s() - upstream_before)


@contextlib.contextmanager
def load_harness(kind: HarnessKind, upstream_count: int) -> Iterator[LoadHarness]:
    """Start the upstreams (and the Python load generator's process); stop them on exit."""
    if kind is HarnessKind.NATIVE:
        wrk_binary()  # missing: fail before starting anything
        with envoy_upstreams(upstream_count) as (upstreams, pid):
            yield LoadHarness(kind, upstreams, [pid], None)
        return
    with (
        upstream_processes_and_pids(upstream_count) as (upstreams, pids),
        ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as load,
    ):
        yield LoadHarness(kind, upstreams, pids, load)
