"""``python -m bench.regions sweep|region-loss|picker-loss``: the two-region local gateway (the dev
stack's rendered manifests, objects edited per run as a changed stack would render them) under load from
one region.

sweep: for each maxUtilizationPercent, a rising number of europe-west3 clients; per step the reported
utilization of europe-west3 and the share of its clients' requests served in us-east4. region-loss: per
HealthCheckPolicy checkIntervalSec, steady load from europe-west3, its replicas killed (or only its health
checks failed); how long until the tier moved the traffic and how many requests failed in between (none
may fail after). picker-loss: per failure mode of the pool (the rendered InferencePool's), europe-west3's
picker killed for a while under steady load; what its clients got meanwhile and after.
Writes JSON (and the sweep a PNG) under --out (docs/regions/ by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer

from infgw.local.command import render_checked_stack
from infgw.local.regions.command import load_regional_plan
from infgw.local.regions.fault_window import load_through_fault
from infgw.local.regions.gateway import RegionalGateway, RegionPart
from infgw.local.regions.load import (
    SMALL_KV_CACHE,
    LoadResult,
    Outcome,
    RequestShape,
    record_reported,
    run_load,
)
from infgw.local.regions.manifest_edits import EditObject, edited_copy
from infgw.local.regions.regional_options import RegionalOptions
from infgw.local.regions.regional_plan import RegionalPlan
from infgw.local.rendered_stack import read_objects

WEST, EAST = "europe-west3", "us-east4"
MODEL = "food-review-1"
SIM_OVERRIDES = SMALL_KV_CACHE
REPLICAS = 2
SHAPE = RequestShape(model=MODEL)

app = typer.Typer(add_completion=False, no_args_is_help=True)


def _edited_plan(source: Path, notes: list[str], work: Path, kind: str, edit: EditObject) -> RegionalPlan:
    target = edited_copy(source, work / f"manifests-{kind}-{time.monotonic_ns()}", kind, edit)
    return load_regional_plan(
        target, notes, stack="dev", replicas=REPLICAS, seed=0, sim_overrides=SIM_OVERRIDES
    )


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "platform": platform.platform()}


async def _sweep_target(
    plan: RegionalPlan, work: Path, clients: list[int], step_s: float
) -> list[dict[str, Any]]:
    rows = []
    options = RegionalOptions(report_delay_s=1.0, ready_timeout_s=120)
    async with RegionalGateway(plan, options, work) as gateway, aiohttp.ClientSession() as session:
        for count in clients:
            samples: list[float] = []
            await run_load(session, gateway.url, SHAPE, {WEST: count}, step_s / 3, 10_000)  # settle
            watcher = asyncio.ensure_future(record_reported(gateway, WEST, samples))
            result = await run_load(session, gateway.url, SHAPE, {WEST: count}, step_s, 10_000)
            watcher.cancel()
            served = result.served(WEST)
            row = {
                "clients": count,
                "requests_per_s": round(sum(served.values()) / step_s, 2),
                "utilization_mean": round(sum(samples) / len(samples), 3) if samples else None,
                "spilled_share": round(result.share_elsewhere(WEST), 3),
                "failed": len(result.failed()),
            }
            rows.append(row)
            typer.echo(f"  {row}")
    return rows


def _custom_metrics_target(target: int) -> EditObject:
    def edit(policy: dict[str, Any]) -> None:
        policy["spec"]["default"]["customMetrics"][0]["maxUtilizationPercent"] = target

    return edit


def _in_flight_capacity(capacity: int) -> EditObject:
    def edit(policy: dict[str, Any]) -> None:
        default = policy["spec"]["default"]
        default.pop("customMetrics", None)
        default.update(balancingMode="IN_FLIGHT", maxInFlightRequestsPerEndpoint=capacity)

    return edit


@app.command()
def sweep(
    targets: Annotated[str, typer.Option(help="maxUtilizationPercent values, comma-separated.")] = "40,60",
    in_flight: Annotated[
        str,
        typer.Option(help="IN_FLIGHT maxInFlightRequestsPerEndpoint values, comma-separated ('' for none)."),
    ] = "",
    clients: Annotated[
        str, typer.Option(help="europe-west3 client counts, comma-separated.")
    ] = "1,2,4,6,8,10,12",
    step_s: Annotated[float, typer.Option(help="Measured seconds per step.")] = 10.0,
    out: Annotated[Path, typer.Option(help="Where results go.")] = Path("docs/regions"),
    name: Annotated[str, typer.Option(help="File name stem of the results.")] = "spill-sweep",
) -> None:
    """Spill-over against offered load, per configured maxUtilizationPercent or in-flight capacity."""
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m bench.regions", *sys.argv[1:]]),
        "machine_start": _machine(),
    }
    runs: list[tuple[str, EditObject]] = [
        (f"maxUtilizationPercent {t}", _custom_metrics_target(int(t))) for t in targets.split(",") if t
    ]
    runs += [(f"IN_FLIGHT {c} per endpoint", _in_flight_capacity(int(c))) for c in in_flight.split(",") if c]
    with tempfile.TemporaryDirectory(prefix="bench-regions-") as temp:
        work = Path(temp)
        source = work / "dev"
        _, notes = render_checked_stack("dev", Path.cwd(), source)
        by_run = {}
        for index, (label, edit) in enumerate(runs):
            typer.echo(label)
            plan = _edited_plan(source, notes, work, "GCPBackendPolicy", edit)
            steps = [int(c) for c in clients.split(",")]
            rows = asyncio.run(_sweep_target(plan, work / f"run-{index}", steps, step_s))
            onset = next((row for row in rows if row["spilled_share"] > 0.02), None)
            by_run[label] = {"target": plan.tier.max_utilization, "steps": rows, "spill_onset": onset}
    results["runs"] = by_run
    results["machine_end"] = _machine()
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _plot_sweep(by_run, out / f"{name}.png")
    typer.echo(f"written: {out / name}.json, {out / name}.png")


def _plot_sweep(by_target: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for label, data in by_target.items():
        steps = [s for s in data["steps"] if s["utilization_mean"] is not None]
        axis.plot(
            [100 * s["utilization_mean"] for s in steps],
            [100 * s["spilled_share"] for s in steps],
            marker="o",
            label=label,
        )
        axis.axvline(100 * data["target"], linestyle=":", color=axis.lines[-1].get_color())
    axis.set_xlabel("europe-west3 reported utilization (kv-cache, or in-flight / capacity), step mean, %")
    axis.set_ylabel("europe-west3 clients' requests served in us-east4, %")
    axis.set_title("Spill-over vs utilization (offered load rising step by step)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


async def _region_loss(plan: RegionalPlan, work: Path, clients: int, part: RegionPart) -> dict[str, Any]:
    options = RegionalOptions(report_delay_s=1.0, ready_timeout_s=120)
    async with RegionalGateway(plan, options, work) as gateway, aiohttp.ClientSession() as session:
        result = LoadResult()
        load = asyncio.ensure_future(
            run_load(session, gateway.url, SHAPE, {WEST: clients}, 60, 100_000, result)
        )
        await asyncio.sleep(3)
        killed = time.monotonic()
        await gateway.take_down(WEST, part)
        while time.monotonic() - killed < 45 and not any(
            o.started_s > killed and o.served_region == EAST for o in result.outcomes
        ):
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)
        load.cancel()
        await asyncio.gather(load, return_exceptions=True)
    moved = min(
        (o.started_s for o in result.outcomes if o.started_s > killed and o.served_region == EAST),
        default=None,
    )
    if moved is None:
        return {"moved_after_s": None, "failed": len(result.failed())}
    return {
        "moved_after_s": round(moved - killed, 2),
        "failed_before_move": len([o for o in result.outcomes if o.status != 200 and o.started_s < moved]),
        "failed_after_move": len([o for o in result.outcomes if o.status != 200 and o.started_s >= moved]),
        "answered_after_move": len([o for o in result.outcomes if o.status == 200 and o.started_s >= moved]),
    }


@contextlib.contextmanager
def _scenario_runs(out: Path, name: str) -> Iterator[tuple[Path, Path, list[str], list[dict[str, Any]]]]:
    """A work directory, the dev stack rendered into it, its notes, and the list of runs the caller fills;
    written with the command and the machine's load to ``out/<name>.json`` at the end."""
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m bench.regions", *sys.argv[1:]]),
        "machine_start": _machine(),
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-regions-") as temp:
        work = Path(temp)
        source = work / "dev"
        _, notes = render_checked_stack("dev", Path.cwd(), source)
        yield work, source, notes, rows
    results["runs"] = rows
    results["machine_end"] = _machine()
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"written: {out / name}.json")


@app.command("region-loss")
def region_loss(
    intervals: Annotated[str, typer.Option(help="checkIntervalSec values, comma-separated.")] = "1,2,5",
    clients: Annotated[int, typer.Option(help="Concurrent europe-west3 clients.")] = 2,
    parts: Annotated[
        str, typer.Option(help="What fails, comma-separated: replicas (killed), health (checks only).")
    ] = "replicas,health",
    out: Annotated[Path, typer.Option(help="Where results go.")] = Path("docs/regions"),
) -> None:
    """Requests lost when a region's replicas die or its health checks fail, per health-check interval
    (unhealthyThreshold as rendered)."""
    with _scenario_runs(out, "region-loss") as (work, source, notes, rows):
        threshold = next(
            int(o["spec"]["default"].get("unhealthyThreshold", 2))
            for o in read_objects(source / "gke-west")
            if o.get("kind") == "HealthCheckPolicy"
        )
        for interval in [int(i) for i in intervals.split(",")]:

            def set_interval(policy: dict[str, Any], interval: int = interval) -> None:
                policy["spec"]["default"].update(checkIntervalSec=interval, timeoutSec=interval)

            plan = _edited_plan(source, notes, work, "HealthCheckPolicy", set_interval)
            for part in [RegionPart(p) for p in parts.split(",")]:
                row: dict[str, Any] = {
                    "part": part.value,
                    "check_interval_s": interval,
                    "unhealthy_threshold": threshold,
                    "clients": clients,
                }
                row |= asyncio.run(_region_loss(plan, work / f"loss-{interval}-{part.value}", clients, part))
                rows.append(row)
                typer.echo(f"  {row}")


def _failure_mode(mode: str) -> EditObject:
    def edit(pool: dict[str, Any]) -> None:
        pool["spec"]["endpointPickerRef"]["failureMode"] = mode

    return edit


def _outcome_counts(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "requests": len(outcomes),
        "answered": sum(o.status == 200 for o in outcomes),
        "failed_by_status": dict(Counter(str(o.status) for o in outcomes if o.status != 200)),
        "served_in": dict(Counter(o.served_region or "-" for o in outcomes if o.status == 200)),
    }


async def _picker_loss(plan: RegionalPlan, work: Path, clients: int, down_s: float) -> dict[str, Any]:
    options = RegionalOptions(report_delay_s=1.0, ready_timeout_s=120)
    async with RegionalGateway(plan, options, work) as gateway, aiohttp.ClientSession() as session:
        window = await load_through_fault(
            gateway, session, SHAPE, {WEST: clients}, WEST, RegionPart.PICKER,
            before_s=3, down_s=down_s, after_s=6, max_requests=200_000,
        )  # fmt: skip
    recovered = window.recovered_after_s(WEST)
    return {
        "during": _outcome_counts(window.during()),
        "after": _outcome_counts(window.after()),
        "answered_in_region_after_restart_s": None if recovered is None else round(recovered, 2),
    }


@app.command("picker-loss")
def picker_loss(
    modes: Annotated[str, typer.Option(help="failureMode values, comma-separated.")] = "FailClose,FailOpen",
    clients: Annotated[int, typer.Option(help="Concurrent europe-west3 clients.")] = 2,
    down_s: Annotated[float, typer.Option(help="Seconds the picker stays down.")] = 10.0,
    out: Annotated[Path, typer.Option(help="Where results go.")] = Path("docs/regions"),
) -> None:
    """What a region's clients get while its picker is down, per pool failure mode."""
    with _scenario_runs(out, "picker-loss") as (work, source, notes, rows):
        for mode in modes.split(","):
            plan = _edited_plan(source, notes, work, "InferencePool", _failure_mode(mode))
            row: dict[str, Any] = {"failure_mode": mode, "clients": clients, "picker_down_s": down_s}
            row |= asyncio.run(_picker_loss(plan, work / f"picker-{mode}", clients, down_s))
            rows.append(row)
            typer.echo(f"  {row}")


if __name__ == "__main__":
    app()
