"""`infgw local`: serve a stack's model pools on this machine with simulated replicas, the picker and Envoy.

Exit codes: 0 served (or, with --once, every sample request answered); 1 a child failed or a sample
request failed; 2 bad stack config, bad flag or busy port (nothing was started).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console

from components.config import ConfigError, validate_stack_config
from components.config.sources import StackFileError, find_project_dir, read_stack
from infgw.launch.child_process import ChildExitedError
from infgw.launch.ports import PortBusyError, ensure_port_free
from infgw.local.gateway_options import GatewayOptions
from infgw.local.plan import LocalPlan, LocalPlanError, local_plan_from_objects
from infgw.local.regions.regional_options import RegionalOptions
from infgw.local.regions.regional_plan import RegionalPlan, is_multi_region
from infgw.local.rendered_stack import RenderError, read_objects, render_stack

if TYPE_CHECKING:
    from infgw.local.gateway import LocalGateway
    from infgw.local.sample_requests import SampleResult

FAILED_EXIT = 1
INVALID_INPUT_EXIT = 2


class LocalUsageError(Exception):
    """Bad input found before anything started."""


def ignored_regional_flags(
    stack: str, client_region: str | None, inter_region_delay_s: float, report_delay_s: float
) -> list[str]:
    """A note naming the multi-region flags given (not left at their defaults) for a one-cluster stack."""
    defaults = RegionalOptions.model_fields
    given = [
        flag
        for flag, is_given in (
            ("--client-region", client_region is not None),
            ("--inter-region-delay", inter_region_delay_s != defaults["inter_region_delay_s"].default),
            ("--report-delay", report_delay_s != defaults["report_delay_s"].default),
        )
        if is_given
    ]
    if not given:
        return []
    return [f"{', '.join(given)}: stack {stack} has one cluster; multi-region flags are ignored"]


def parse_sim_settings(settings: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (VALUE parsed as YAML: numbers, booleans, lists) into simulator config keys."""
    from sim.config import SimConfig

    fixed = {"model", "name", "host", "port", "lora_modules", "served_model_name"}
    overrides: dict[str, Any] = {}
    for setting in settings:
        key, separator, value = setting.partition("=")
        if not separator or not key.strip():
            raise LocalUsageError(f"--sim-set {setting!r}: use KEY=VALUE, e.g. --sim-set max_num_seqs=8")
        key = key.strip().replace("-", "_")
        if key in fixed:
            raise LocalUsageError(
                f"--sim-set {key}: set by the stack config and the local gateway; it cannot be overridden"
            )
        if key not in SimConfig.model_fields:
            known = ", ".join(sorted(set(SimConfig.model_fields) - fixed))
            raise LocalUsageError(
                f"--sim-set {key}: not a simulator config key (sim/README.md); use one of {known}"
            )
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise LocalUsageError(
                f"--sim-set {key}: the value is not valid YAML ({error.__class__.__name__}): {value!r}"
            ) from None
    return overrides


def check_sim_configs(plan: LocalPlan) -> None:
    """Validate every replica's simulator-only settings now, so a bad --sim-set fails before any process."""
    from sim.config import ConfigError as SimConfigError
    from sim.config import SimConfig

    for pool in plan.pools:
        for replica in pool.replicas:
            try:
                SimConfig.build(model=pool.model, **replica.sim_config).load_profile()
            except SimConfigError as error:
                raise LocalUsageError(f"replica {replica.name}: {error} (check --sim-set)") from None


def load_local_plan(
    stack: str,
    project_dir: Path | None,
    manifests_dir: Path,
    *,
    replicas: int | None = None,
    seed: int = 0,
    sim_overrides: dict[str, Any] | None = None,
) -> LocalPlan:
    """Validate the stack, render its manifests as `pulumi up` would apply them (the offline plan, with its
    deploy rehearsal), and read what to start from the gateway cluster's manifests.

    Raises:
        LocalUsageError: bad config, a plan that could not deploy, or manifests that do not wire up.
    """
    cluster_dir, notes = render_checked_stack(stack, project_dir, manifests_dir)
    return cluster_local_plan(cluster_dir, notes, stack, replicas, seed, sim_overrides)


def cluster_local_plan(
    cluster_dir: Path,
    notes: list[str],
    stack: str,
    replicas: int | None,
    seed: int,
    sim_overrides: dict[str, Any] | None,
) -> LocalPlan:
    """What to start for one cluster folder of rendered manifests (raises LocalUsageError)."""
    try:
        plan = local_plan_from_objects(
            read_objects(cluster_dir),
            stack=stack,
            replicas_cap=replicas,
            seed=seed,
            sim_overrides=sim_overrides,
        )
    except LocalPlanError as error:
        raise LocalUsageError(str(error)) from None
    plan = plan.model_copy(update={"warnings": (*notes, *plan.warnings)})
    check_sim_configs(plan)
    return plan


def render_checked_stack(stack: str, project_dir: Path | None, manifests_dir: Path) -> tuple[Path, list[str]]:
    """Validate the stack and render its manifests into ``manifests_dir``: the gateway cluster's folder
    and notes (a policy the stack violates).

    Raises:
        LocalUsageError: bad config, or a plan that could not deploy.
    """
    try:
        directory = project_dir.resolve() if project_dir else find_project_dir()
        stack_config = validate_stack_config(read_stack(stack, directory))
    except StackFileError as error:
        raise LocalUsageError(str(error)) from None
    except ConfigError as error:
        raise LocalUsageError("\n".join(str(problem) for problem in error.problems)) from None
    if stack_config.services is None:
        raise LocalUsageError(
            f"stack {stack!r} has no `gke-inference-gateway:services` section, so there is nothing to serve; "
            "add one (see Pulumi.dev.yaml)"
        )
    try:
        return render_stack(stack, directory, manifests_dir)
    except RenderError as error:
        raise LocalUsageError(
            f"stack {stack!r} does not plan, so it cannot run here either:\n{error}"
        ) from None


def _describe_plan(console: Console, plan: LocalPlan) -> None:
    for pool in plan.pools:
        objectives = ", ".join(f"{name} ({priority})" for name, priority in pool.objectives.items()) or "none"
        console.print(
            f"[bold]{pool.name}[/]: {len(pool.replicas)} x {pool.model}"
            f"{' + ' + ', '.join(pool.adapters) if pool.adapters else ''}; objectives: {objectives}; "
            f"{'FailOpen' if pool.fail_open else 'FailClose'}; models routed here: {', '.join(pool.model_names)}"
        )
    for warning in plan.warnings:
        console.print(f"[yellow]note:[/] {warning}")


def print_sample_result(console: Console, result: SampleResult) -> None:
    mark = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
    served = f" by {result.replica}" if result.replica else ""
    console.print(f"{mark} {result.request.label} -> {result.status}{served} in {result.elapsed_s:.2f} s")
    if result.ok:
        console.print_json(data=result.body)
    else:
        console.print(f"[red]{result.problem}[/]")


async def _serve_status(console: Console, gateway: LocalGateway, refresh_s: float) -> None:
    import aiohttp
    from rich.live import Live

    from infgw.local.replica_status import fetch_replica_status
    from infgw.local.status_view import render_status

    async with aiohttp.ClientSession() as session:
        try:
            with Live(console=console, auto_refresh=False, transient=False) as live:
                while True:
                    envoy = gateway.envoy.child if gateway.envoy is not None else None
                    if envoy is not None:
                        envoy.check_running()  # Envoy gone means no gateway: stop with its log tail
                    statuses = await asyncio.gather(
                        *(fetch_replica_status(session, r.name, r.url) for r in gateway.replicas)
                    )
                    by_pool = [
                        (
                            pool.name,
                            [
                                s
                                for s, r in zip(statuses, gateway.replicas, strict=True)
                                if r.pool == pool.name
                            ],
                        )
                        for pool in gateway.plan.pools
                    ]
                    exited = [child.name for child in gateway.supervisor.exited()]
                    live.update(render_status(gateway.url, by_pool, exited), refresh=True)
                    await asyncio.sleep(refresh_s)
        finally:
            console.print()  # Live leaves the cursor at the end of its last line


async def _run(
    console: Console, plan: LocalPlan, options: GatewayOptions, work_dir: Path, once: bool, refresh_s: float
) -> int:
    import aiohttp

    from infgw.local.gateway import LocalGateway
    from infgw.local.sample_requests import curl_command, sample_requests, send_sample

    total = sum(len(pool.replicas) for pool in plan.pools)
    console.print(
        f"Starting {total} simulated replica(s), {sum(p.picker.replicas for p in plan.pools)} picker(s) and Envoy "
        f"(logs: {work_dir / 'logs'})"
    )
    async with LocalGateway(plan, options, work_dir) as gateway:
        console.print(f"\n[bold green]Gateway ready at {gateway.url}[/]  (Envoy admin: {gateway.admin_url})")
        requests = sample_requests(plan)
        console.print("\nThe setup guide's test request:")
        console.print(curl_command(gateway.url, requests[0]), soft_wrap=True, highlight=False)
        console.print(f"\nOpenAI clients: base_url={gateway.url}/v1, any api_key.\n")
        async with aiohttp.ClientSession() as session:
            to_send = requests if once else requests[:1]
            results = [await send_sample(session, gateway.url, request) for request in to_send]
        for result in results:
            print_sample_result(console, result)
        failed = [result for result in results if not result.ok]
        if once:
            if failed:
                console.print(f"[red]{len(failed)} of {len(results)} sample request(s) failed[/]")
                return FAILED_EXIT
            console.print(f"All {len(results)} sample requests answered; stopping.")
            return 0
        await _serve_status(console, gateway, refresh_s)
    return 0


async def _run_until_signal(coroutine: Any) -> int:
    """Run ``coroutine``; SIGINT or SIGTERM cancel it, which stops every child on the way out."""
    task = asyncio.ensure_future(coroutine)
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        return int(await task)
    except asyncio.CancelledError:
        if interrupted:
            return 0
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def local(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack whose `services` to serve (Pulumi.<stack>.yaml).")
    ] = "dev",
    once: Annotated[
        bool,
        typer.Option("--once", help="Start, send the sample requests (completions and chat per pool), stop."),
    ] = False,
    replicas: Annotated[
        int | None,
        typer.Option("--replicas", min=1, help="At most this many simulated replicas per pool (laptops)."),
    ] = None,
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", min=0, max=65_535, help="Gateway port on 127.0.0.1; 0 picks a free one."
        ),
    ] = GatewayOptions.model_fields["port"].default,
    sim_set: Annotated[
        list[str] | None,
        typer.Option(
            "--sim-set",
            help="Simulator key for every replica, KEY=VALUE (repeatable), e.g. profile=zero-latency.",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seeds every replica's random draws (distinct per replica).")
    ] = 0,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            file_okay=False,
            help="Keep generated configs and logs here (default: a temp dir, removed).",
        ),
    ] = None,
    ready_timeout: Annotated[
        float, typer.Option("--ready-timeout", min=1, help="Seconds each start-up step may take.")
    ] = GatewayOptions.model_fields["ready_timeout_s"].default,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.1, help="Status view refresh interval, seconds.")
    ] = 1.0,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Envoy logs every request (logs/envoy.log).")
    ] = GatewayOptions.model_fields["access_log"].default,
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "--project-dir",
            exists=True,
            file_okay=False,
            help="Directory holding Pulumi.yaml (default: nearest above cwd).",
        ),
    ] = None,
    client_region: Annotated[
        str | None,
        typer.Option(
            "--client-region",
            help="Multi-region stacks: the region (or cluster) whose address --port and the sample requests use.",
        ),
    ] = None,
    inter_region_delay: Annotated[
        float,
        typer.Option(
            "--inter-region-delay", min=0, help="Multi-region stacks: seconds added to each cross-region hop."
        ),
    ] = RegionalOptions.model_fields["inter_region_delay_s"].default,
    report_delay: Annotated[
        float,
        typer.Option(
            "--report-delay",
            min=0,
            help="Multi-region stacks: seconds until a region's utilization reaches the tier.",
        ),
    ] = RegionalOptions.model_fields["report_delay_s"].default,
) -> None:
    """Serve STACK's model pools locally from its rendered manifests: simulated vLLM replicas with the
    planned vLLM flags, each pool's picker with its planned args and ConfigMap, Envoy in front."""
    console = Console()
    with contextlib.ExitStack() as cleanup:
        if work_dir is None:
            directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="infgw-local-")))
        else:
            directory = work_dir.resolve()
            directory.mkdir(parents=True, exist_ok=True)
        regional: RegionalPlan | None = None
        try:
            overrides = parse_sim_settings(sim_set or [])
            manifests = directory / "manifests"
            cluster_dir, notes = render_checked_stack(stack, project_dir, manifests)
            if is_multi_region(manifests):
                from infgw.local.regions.command import load_regional_plan

                regional = load_regional_plan(
                    manifests,
                    notes,
                    stack=stack,
                    replicas=replicas,
                    seed=seed,
                    sim_overrides=overrides,
                    client_region=client_region,
                )
            else:
                notes.extend(ignored_regional_flags(stack, client_region, inter_region_delay, report_delay))
                plan = cluster_local_plan(cluster_dir, notes, stack, replicas, seed, overrides)
            if port:
                ensure_port_free("127.0.0.1", port)
        except (LocalUsageError, PortBusyError) as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(INVALID_INPUT_EXIT) from None
        # Imported only now (aiohttp and gRPC take a while): `infgw --help` and config errors stay instant.
        from infgw.launch.readiness import NotReadyError

        if regional is not None:
            from infgw.local.regions.command import describe_regional_plan, run_regions

            describe_regional_plan(console, regional)
            regional_options = RegionalOptions(
                port=port,
                client_region=client_region,
                inter_region_delay_s=inter_region_delay,
                report_delay_s=report_delay,
                ready_timeout_s=ready_timeout,
                access_log=access_log,
            )
            coroutine = run_regions(console, regional, regional_options, directory, once, refresh)
        else:
            _describe_plan(console, plan)
            options = GatewayOptions(port=port, ready_timeout_s=ready_timeout, access_log=access_log)
            coroutine = _run(console, plan, options, directory, once, refresh)
        try:
            code = asyncio.run(_run_until_signal(coroutine))
        except (ChildExitedError, NotReadyError) as error:
            console.print(f"[red]local gateway failed:[/] {error}", highlight=False)
            if work_dir is None:
                console.print("(the logs were in a temporary directory; --work-dir DIR keeps them)")
            code = FAILED_EXIT
        except PortBusyError as error:
            typer.echo(str(error), err=True)
            code = INVALID_INPUT_EXIT
    console.print("Stopped every process the gateway started.")
    raise typer.Exit(code)
