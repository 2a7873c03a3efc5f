"""Runs scenarios against targets, side by side: same fleet, same seed, same requests, fresh caches each run."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import aiohttp

from bench.bound import PrefixCacheBound, prefix_cache_bound
from bench.config import BenchConfig, FleetSpec, Scenario
from bench.driver.load import LoadShape, OpenLoop
from bench.driver.picker_restart import failed_during_restart, restart_mid_run
from bench.driver.runner import LoadDriver
from bench.fleet import running_fleet
from bench.report.result import PickerRestartResult, ScenarioResult, SweepPoint, SweepResult, TargetRun
from bench.stats.placement import replicas_per_group
from bench.stats.prefix_cache import cache_deltas, fleet_hit_rate, scrape_fleet
from bench.stats.summary import RunSummary, summarize
from bench.targets.base import FleetView, RestartableTarget, RestartPicker, Target, TargetUnavailable
from bench.workloads.request import RequestSpec
from infgw.launch.child_process import LaunchError

# A rate is "sustained" when this share of the offered requests met the SLO, with no errors.
SUSTAINED_GOODPUT_SHARE = 0.9

Progress = Callable[[str], None]


async def tokenize_prompts(replica_url: str, model: str, requests: Sequence[RequestSpec]) -> list[list[int]]:
    """Token ids of each request's prompt as the model server sees it (chat template applied), via /tokenize."""
    async with aiohttp.ClientSession() as session:
        semaphore = asyncio.Semaphore(16)

        async def one(request: RequestSpec) -> list[int]:
            body = {"model": model, "messages": request.body()["messages"], "add_generation_prompt": True}
            async with semaphore, session.post(replica_url + "/tokenize", json=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"/tokenize answered {resp.status}: {(await resp.text())[:200]}")
                return list((await resp.json())["tokens"])

        return list(await asyncio.gather(*(one(r) for r in requests)))


class Suite:
    """Owns one benchmark run's scenarios; every target run gets its own fresh fleet."""

    def __init__(self, config: BenchConfig, targets: Mapping[str, Target], work_dir: Path,
                 progress: Progress = lambda message: None) -> None:
        self._config = config
        self._targets = targets
        self._work_dir = work_dir
        self._progress = progress

    async def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        fleet = self._config.fleet_for(scenario)
        requests = scenario.workload.generate(self._config.seed)
        tokens: list[list[int]] | None = None
        bound_note = ""
        runs: list[TargetRun] = []
        for name in self._config.targets_for(scenario):
            target = self._targets[name]
            self._progress(f"{scenario.name}: {name} ({scenario.load.label()})")
            run, tokens_here = await self._run_target(
                scenario, fleet, target, requests, scenario.load, want_tokens=_closed(scenario.load) or tokens is None)
            if tokens_here is not None and (tokens is None or len(tokens_here) > len(tokens)):
                tokens = tokens_here
            runs.append(run)

        bound: PrefixCacheBound | None = None
        if tokens is None:
            bound_note = "not computed: no target run reached a model server to tokenize the prompts"
        else:
            bounds: dict[int, PrefixCacheBound] = {}
            for run in runs:
                if run.summary is None:
                    continue
                sent = min(run.summary.sent, len(tokens))
                if sent not in bounds:
                    bounds[sent] = prefix_cache_bound(tokens[:sent], fleet.block_size, fleet.replicas,
                                                      fleet.num_gpu_blocks)
                run.bound_hit_rate = bounds[sent].hit_rate
            bound = bounds[max(bounds)] if bounds else None
        return ScenarioResult(
            name=scenario.name, description=scenario.description,
            workload=scenario.workload.model_dump(), load={**scenario.load.model_dump(), "label": scenario.load.label()},
            bound=bound, bound_note=bound_note, runs=runs)

    async def sweep(self, scenario: Scenario, target_names: Sequence[str]) -> list[SweepResult]:
        """Open-loop runs at rising rates until a target stops sustaining its SLO."""
        if not scenario.sweep_rates_rps:
            raise ValueError(f"scenario {scenario.name!r} has no sweep_rates_rps; add some to sweep it")
        fleet = self._config.fleet_for(scenario)
        requests = scenario.workload.generate(self._config.seed)
        base_load = scenario.load
        duration = base_load.duration_s
        results: list[SweepResult] = []
        for name in target_names:
            if scenario.targets is not None and name not in scenario.targets:
                continue
            points: list[SweepPoint] = []
            saturation: float | None = None
            for rate in scenario.sweep_rates_rps:
                self._progress(f"sweep {scenario.name}: {name} at {rate:g} req/s")
                load = OpenLoop(rate_rps=rate, duration_s=duration, drain_timeout_s=base_load.drain_timeout_s)
                run, _ = await self._run_target(scenario, fleet, self._targets[name], requests, load,
                                                want_tokens=False)
                points.append(SweepPoint(rate_rps=rate, summary=run.summary, status=run.status, reason=run.reason))
                if run.summary is None or not sustained(run.summary):
                    break
                saturation = rate
            results.append(SweepResult(scenario=scenario.name, target=name, points=points, saturation_rps=saturation))
        return results

    async def _run_target(self, scenario: Scenario, fleet: FleetSpec, target: Target,
                          requests: Sequence[RequestSpec], load: LoadShape,
                          want_tokens: bool) -> tuple[TargetRun, list[list[int]] | None]:
        try:
            target.check_available()
        except TargetUnavailable as err:
            return TargetRun(target=target.name, status="unavailable", reason=str(err)), None
        restart_spec = scenario.picker_restart
        if restart_spec is not None and not hasattr(target, "serve_restartable"):
            return TargetRun(target=target.name, status="unavailable",
                             reason="the scenario restarts the picker and this target has none"), None
        run_dir = self._work_dir / scenario.name / target.name
        tokens: list[list[int]] | None = None
        restart: PickerRestartResult | None = None
        try:
            async with running_fleet(fleet, self._config.seed, run_dir, kv_events=target.wants_kv_events) as view:
                async with _serving(target, view, restart_spec is not None) as (base_url, restart_picker), \
                        aiohttp.ClientSession() as session:
                    before = await scrape_fleet(session, view.replicas)
                    driver = LoadDriver(base_url, self._config.seed, self._config.request_timeout_s,
                                        clock=time.perf_counter)
                    load_started = time.perf_counter()
                    load_task = asyncio.create_task(driver.run(requests, load))
                    if restart_spec is not None and restart_picker is not None:
                        restart = await restart_mid_run(session, view.replicas, restart_picker, restart_spec,
                                                        load_started)
                    load_run = await load_task
                    after = await scrape_fleet(session, view.replicas)
                if want_tokens:
                    # After the load (tokenizing touches no cache): only the prompts this run sent.
                    sent = max((r.index for r in load_run.records), default=-1) + 1
                    first_replica = next(iter(view.replicas.values()))
                    tokens = await tokenize_prompts(first_replica, fleet.model, requests[:sent])
        except (LaunchError, TargetUnavailable, OSError, aiohttp.ClientError) as err:
            return TargetRun(target=target.name, status="failed", reason=_one_line(err)), tokens
        except Exception as err:
            return TargetRun(target=target.name, status="failed", reason="unexpected " + _one_line(err)), tokens
        if restart is not None:
            restart.failed_while_down = failed_during_restart(load_run.records, restart, load_started)
        summary = summarize(load_run.records, load_run.window_s, scenario.slo)
        cache = cache_deltas(before, after)
        return TargetRun(
            target=target.name, status="ok", summary=summary, cache=cache, fleet_hit_rate=fleet_hit_rate(cache),
            requests_per_replica=dict(sorted(Counter(r.served_by or "unknown" for r in load_run.records
                                                     if r.ok).items())),
            replicas_per_group=replicas_per_group(load_run.records),
            ttft_samples_ms=[round(r.ttft_s * 1000.0, 3) for r in load_run.records
                             if r.ok and r.ttft_s is not None],
            picker_restart=restart,
        ), tokens


@asynccontextmanager
async def _serving(target: Target, view: FleetView,
                   restartable: bool) -> AsyncIterator[tuple[str, RestartPicker | None]]:
    """The target's base URL, and with ``restartable`` the function that restarts its picker."""
    if restartable:
        async with cast(RestartableTarget, target).serve_restartable(view) as (base_url, restart):
            yield base_url, restart
    else:
        async with target.serve(view) as base_url:
            yield base_url, None


def _closed(load: LoadShape) -> bool:
    """Closed loops send as many requests as the target can take, so each run needs its own count."""
    return load.kind == "closed"


def sustained(summary: RunSummary) -> bool:
    """Whether a run kept up: enough of what was offered met the SLO, and nothing failed outright."""
    return summary.errors == 0 and summary.sent > 0 and \
        summary.goodput_rps * summary.window_s >= SUSTAINED_GOODPUT_SHARE * summary.sent


def _one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    return text if len(text) < 600 else text[:600] + "..."


__all__ = ["Progress", "Suite", "sustained", "tokenize_prompts"]
