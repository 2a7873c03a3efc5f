"""`infgw local` for a multi-cluster stack: load every region's plan, run the regional gateway (with its
control endpoint and status view), and `infgw region down|up|status`, which talk to a running one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from infgw.local.plan import LocalPlanError
from infgw.local.regions.regional_plan import RegionalPlan, regional_plan
from infgw.local.rendered_stack import PLAN_JSON


def load_regional_plan(
    manifests_dir: Path,
    notes: list[str],
    *,
    stack: str,
    replicas: int | None,
    seed: int,
    sim_overrides: dict[str, Any] | None,
    client_region: str | None = None,
) -> RegionalPlan:
    """Every region's plan from the rendered manifests (raises LocalUsageError on a wiring break, or when
    ``client_region`` names no region of the stack)."""
    from infgw.local.command import LocalUsageError, check_sim_configs

    try:
        plan = regional_plan(
            manifests_dir,
            manifests_dir / PLAN_JSON,
            stack=stack,
            replicas_cap=replicas,
            seed=seed,
            sim_overrides=sim_overrides,
        )
    except LocalPlanError as error:
        raise LocalUsageError(str(error)) from None
    if client_region is not None and all(client_region not in (r.region, r.cluster) for r in plan.regions):
        known = ", ".join(f"{r.region} (or {r.cluster})" for r in plan.regions)
        raise LocalUsageError(
            f"--client-region {client_region!r} is not a region of stack {stack}; use one of {known}"
        )
    for region in plan.regions:
        check_sim_configs(region.plan)
    return plan.model_copy(update={"warnings": (*notes, *plan.warnings)})


def describe_regional_plan(console: Console, plan: RegionalPlan) -> None:
    tier = plan.tier
    for region in plan.regions:
        pools = "; ".join(
            f"{pool.name}: {len(pool.replicas)} x {pool.model}, {'FailOpen' if pool.fail_open else 'FailClose'}"
            for pool in region.plan.pools
        )
        console.print(f"[bold]{region.region}[/] ({region.cluster}): {pools}")
    target = (
        f"{tier.metric.export_name} ({tier.metric.source_name}) at most {100 * tier.max_utilization:.0f}%"
        if tier.metric is not None
        else f"{tier.max_in_flight_per_endpoint} in flight per endpoint"
        if tier.max_in_flight_per_endpoint is not None
        else "no capacity (RATE is not modelled: no spill-over)"
    )
    check = tier.health_check
    console.print(
        f"[bold]tier[/] (Gateway {tier.gateway} -> {tier.pool}): {tier.balancing_mode.value}, {target}"
        f"{' (dryRun: reported only)' if tier.dry_run else ''}; health check {check.path} every "
        f"{check.interval_s:g} s, down after {check.unhealthy_threshold}; timeout {tier.timeout_s:g} s"
    )
    for warning in plan.warnings:
        console.print(f"[yellow]note:[/] {warning}")


async def run_regions(
    console: Console, plan: RegionalPlan, options: Any, work_dir: Path, once: bool, refresh_s: float
) -> int:
    """Start the regional gateway, send the sample requests through the client region's address, then
    stop (--once) or show the status view until interrupted."""
    import aiohttp
    from rich.live import Live

    from infgw.local.command import print_sample_result
    from infgw.local.regions.control import ControlServer
    from infgw.local.regions.fault_keys import FaultKeys, apply_fault, terminal_keys
    from infgw.local.regions.gateway import RegionalGateway
    from infgw.local.regions.status_view import render_regional_status
    from infgw.local.sample_requests import curl_command, sample_requests, send_sample

    console.print(
        f"Starting {len(plan.regions)} regions and the cross-region tier (logs: {work_dir}/<cluster>/logs, "
        f"{work_dir}/tier/logs)"
    )
    async with RegionalGateway(plan, options, work_dir) as gateway, ControlServer(gateway) as control:
        console.print(
            f"\n[bold green]Gateway ready at {gateway.url}[/]  (client region {gateway.client_region})"
        )
        for region, url in gateway.urls.items():
            console.print(f"[bold]{region}[/] clients: {url}")
        console.print(
            f"Client region of the sample requests: {gateway.client_region}; control: {control.url}"
        )
        requests = sample_requests(plan.region(plan.config_cluster).plan)
        console.print(curl_command(gateway.url, requests[0]), soft_wrap=True, highlight=False)
        async with aiohttp.ClientSession() as session:
            to_send = requests if once else requests[:1]
            results = [await send_sample(session, gateway.url, request) for request in to_send]
            for result in results:
                print_sample_result(console, result)
            if once:
                failed = [result for result in results if not result.ok]
                if failed:
                    console.print(f"[red]{len(failed)} of {len(results)} sample request(s) failed[/]")
                    return 1
                console.print(f"All {len(results)} sample requests answered through the tier; stopping.")
                return 0
            mode = plan.tier.balancing_mode.value + (" (dryRun)" if plan.tier.dry_run else "")
            fault_keys = FaultKeys([region.region for region in plan.regions])
            last_fault = ""
            try:
                with terminal_keys(sys.stdin.fileno()) as keys, Live(console=console, auto_refresh=False) as live:
                    while True:
                        gateway.check_running()
                        rows = await gateway.status(session)
                        keys_help = fault_keys.help() if keys is not None else None
                        live.update(
                            render_regional_status(rows, control.url, mode, keys_help, last_fault), refresh=True
                        )
                        if keys is None:
                            await asyncio.sleep(refresh_s)
                            continue
                        with contextlib.suppress(TimeoutError):
                            key = await asyncio.wait_for(keys.get(), refresh_s)
                            action = fault_keys.press(key, {row.region: row.down for row in rows})
                            if action is not None:
                                last_fault = await apply_fault(gateway, action)
            finally:
                console.print()  # Live leaves the cursor at the end of its last line (as the one-cluster view)


region_app = typer.Typer(
    name="region",
    no_args_is_help=True,
    help="Faults and status of a running multi-region `infgw local` (its control URL is printed at start).",
)

ControlOption = Annotated[str, typer.Option("--control", help="The control URL `infgw local` printed.")]
PartOption = Annotated[
    str,
    typer.Option(
        "--part",
        "--what",
        help="What to take down or bring up: replicas, picker, or health (its health checks fail, "
        "replicas and picker keep running).",
    ),
]


def _call(method: str, url: str) -> Any:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}").get("error", {}).get("message", error.reason)
        typer.echo(f"{method} {url}: {error.code} {detail}", err=True)
        raise typer.Exit(2) from None
    except urllib.error.URLError as error:
        typer.echo(f"no regional gateway answers at {url} ({error.reason}); check --control", err=True)
        raise typer.Exit(2) from None


@region_app.command("down")
def region_down(region: str, control: ControlOption, part: PartOption = "replicas") -> None:
    """Take REGION's replicas or picker down (SIGKILL), or fail its health checks, while the gateway serves."""
    typer.echo(json.dumps(_call("POST", f"{control}/regions/{region}/down?part={part}")))


@region_app.command("up")
def region_up(region: str, control: ControlOption, part: PartOption = "replicas") -> None:
    """Start REGION's replicas or picker again, or let its health checks pass again."""
    typer.echo(json.dumps(_call("POST", f"{control}/regions/{region}/up?part={part}")))


@region_app.command("status")
def region_status(control: ControlOption) -> None:
    """Per region: utilization against its target, local share, health, traffic counts (JSON)."""
    typer.echo(json.dumps(_call("GET", f"{control}/regions"), indent=2))
