"""``python -m bench``: run a preset or config file, write JSON + markdown + plots, print the table."""

from __future__ import annotations

import asyncio
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console

from bench.config import BenchConfig
from bench.overhead import measure_overhead
from bench.report.markdown import render
from bench.report.plots import write_plots
from bench.report.result import BenchResult
from bench.suite import Suite
from bench.targets import Target, build_targets, resolve_target_names
from bench.targets.peer_router import PEER_PACKAGES, PeerRouter, default_peers_venv

app = typer.Typer(add_completion=False, no_args_is_help=False, help=__doc__)
console = Console(stderr=True)

PRESETS = ("quick", "standard", "full")
PEER_VERSION_RANGES = {"sglang-router": ">=0.3,<0.4", "vllm-router": ">=0.1.17,<0.2", "smg": ">=1.13,<2"}


def load_config(path: Path | None, preset: str) -> tuple[BenchConfig, str]:
    """The run's config from ``path`` or the shipped ``preset``; exits with the offending key on bad input."""
    if path is None:
        if preset not in PRESETS:
            raise typer.BadParameter(f"unknown preset {preset!r}; known: {list(PRESETS)}")
        text = resources.files("bench").joinpath("presets", f"{preset}.yaml").read_text(encoding="utf-8")
        source = f"preset {preset}"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise typer.BadParameter(f"cannot read {path}: {err}", param_hint="--config") from err
        source = str(path)
    try:
        return BenchConfig.model_validate(yaml.safe_load(text)), source
    except (ValidationError, yaml.YAMLError) as err:
        raise typer.BadParameter(f"{source} is invalid:\n{err}", param_hint="--config") from err


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    quick: Annotated[bool, typer.Option(help="CI-sized run (under 2 minutes).")] = False,
    full: Annotated[bool, typer.Option(
        help="The long form behind the published numbers (longer than the standard run; not re-timed).")] = False,
    config: Annotated[Path | None, typer.Option(help="A BenchConfig YAML instead of the preset.")] = None,
    targets: Annotated[str | None, typer.Option(help="Comma-separated subset of targets.")] = None,
    scenarios: Annotated[str | None, typer.Option(help="Comma-separated subset of scenario names.")] = None,
    sweep: Annotated[bool, typer.Option(help="Also sweep offered load to find each target's saturation.")] = False,
    overhead: Annotated[bool | None, typer.Option(help="Measure routing overhead (default: on unless --quick).")] = None,
    only_overhead: Annotated[bool, typer.Option(help="Measure routing overhead only (no scenarios).")] = False,
    seed: Annotated[int | None, typer.Option(help="Override the config's seed.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default docs/benchmarks, or .../quick, .../full).")] = None,
    peers_venv: Annotated[Path | None, typer.Option(help="Virtualenv holding the peer routers.")] = None,
    keep_logs: Annotated[bool, typer.Option(help="Keep process logs and configs after the run.")] = False,
    install_peers: Annotated[bool, typer.Option(
        help="Install missing peer routers into their venv first (needs PyPI).")] = True,
    work_dir: Annotated[Path | None, typer.Option(help="Folder for process logs and configs (default: a temp dir).")] = None,
) -> None:
    """Run the benchmark (the default command)."""
    if ctx.invoked_subcommand is not None:
        return
    if quick and full:
        raise typer.BadParameter("--quick and --full are exclusive; pick one", param_hint="--quick/--full")
    preset = "quick" if quick else "full" if full else "standard"
    bench_config, source = load_config(config, preset)
    if seed is not None:
        bench_config = bench_config.model_copy(update={"seed": seed})
    known = build_targets(peers_venv)
    try:
        target_names = resolve_target_names(targets.split(",") if targets else list(bench_config.targets), known)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--targets") from err
    try:
        resolve_target_names(list(bench_config.overhead.targets), known)
    except ValueError as err:
        raise typer.BadParameter(f"{source}: overhead.targets: {err}", param_hint="--config") from err
    if only_overhead and (scenarios or overhead is False):
        raise typer.BadParameter("--only-overhead runs no scenarios; drop --scenarios / --no-overhead",
                                 param_hint="--only-overhead")
    chosen = [] if only_overhead else bench_config.scenarios
    if scenarios:
        wanted = scenarios.split(",")
        missing = sorted(set(wanted) - {s.name for s in chosen})
        if missing:
            raise typer.BadParameter(f"unknown scenario(s) {missing}; known: {[s.name for s in chosen]}",
                                     param_hint="--scenarios")
        chosen = [s for s in chosen if s.name in wanted]
    # --targets narrows every scenario's own subset too, so the run stays valid.
    chosen = [s.model_copy(update={"targets": [t for t in s.targets if t in target_names]})
              if s.targets is not None else s for s in chosen]
    bench_config = BenchConfig.model_validate(
        {**bench_config.model_dump(), "targets": target_names, "scenarios": [s.model_dump() for s in chosen]})
    peers_wanted = [n for n in target_names if isinstance(known[n], PeerRouter)]
    if install_peers and peers_wanted and not all(known[n].executable.exists() for n in peers_wanted):
        if _install_peers(peers_venv or default_peers_venv()) != 0:
            console.print("[yellow]peer routers could not be installed; they will be reported unavailable[/]")
    out_dir = out or {"quick": Path("docs/benchmarks/quick"), "full": Path("docs/benchmarks/full")}.get(
        preset, Path("docs/benchmarks"))
    do_overhead = only_overhead or ((not quick) if overhead is None else overhead)

    own_work_dir = work_dir is None  # only a temp dir we made is ours to delete
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="bench-"))
    started = time.monotonic()
    result = BenchResult(
        command="python -m bench " + shlex.join(sys.argv[1:]), seed=bench_config.seed,
        mode=preset + (f" ({source})" if config else ""),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"), duration_s=0.0,
        machine=_machine(), versions={},
        fleet=(bench_config.overhead.fleet if only_overhead else bench_config.fleet).describe())
    suite = Suite(bench_config, known, work_dir, progress=lambda m: console.log(m))
    try:
        asyncio.run(_run_all(suite, bench_config, result, known, target_names, sweep, do_overhead, work_dir))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; every process this run started has been stopped[/]")
        raise typer.Exit(130) from None
    result.duration_s = time.monotonic() - started
    # Next to the start's: how busy the machine was is the first thing to check when numbers move.
    result.machine["load_average_end"] = _load_average()
    used = set(target_names) | (set(bench_config.overhead.targets) if do_overhead else set())
    result.versions = _versions(known, used)
    _write(result, out_dir)
    failed = any(r.status == "failed" for s in result.scenarios for r in s.runs)
    if keep_logs or failed or not own_work_dir:
        console.print(f"process logs kept in {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    console.print(f"elapsed: {result.duration_s:.0f} s ({preset} preset, seed {bench_config.seed}, "
                  f"load average {result.machine['load_average_start']} -> {result.machine['load_average_end']})")


async def _run_all(suite: Suite, config: BenchConfig, result: BenchResult, known: dict[str, Target],
                   target_names: list[str],
                   sweep: bool, do_overhead: bool, work_dir: Path) -> None:
    for scenario in config.scenarios:
        result.scenarios.append(await suite.run_scenario(scenario))
    if sweep:
        for scenario in config.scenarios:
            if scenario.sweep_rates_rps:
                result.sweeps += await suite.sweep(scenario, target_names)
    if do_overhead:
        result.overhead = await measure_overhead(config.overhead, known, config.overhead.targets, config.seed,
                                                 work_dir, progress=lambda m: console.log(m))


def _write(result: BenchResult, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(result.model_dump_json(indent=1) + "\n", encoding="utf-8")
    markdown = render(result)
    (out_dir / "results.md").write_text(markdown, encoding="utf-8")
    plots = write_plots(result, out_dir)
    typer.echo(markdown)
    console.print(f"wrote {out_dir / 'results.json'}, {out_dir / 'results.md'} and {len(plots)} plot(s)")


def _machine() -> dict[str, str]:
    return {"cpus": str(os.cpu_count()), "platform": platform.platform(terse=True),
            "python": platform.python_version(), "load_average_start": _load_average()}


def _load_average() -> str:
    """1/5/15-minute load average; the runs share the CPU with whatever else the machine is doing."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _versions(known: dict[str, Target], used: set[str]) -> dict[str, str]:
    versions = {}
    for dist in ("gke-inference-bench", "gke-inference-sim", "gke-inference-picker", "aiohttp"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    for name in sorted(used):
        if name in known and name != "direct":
            versions[name] = known[name].version()
    versions["source"] = _source_revision()
    return versions


def _source_revision() -> str:
    """The git commit the run's code came from (``+dirty`` with uncommitted changes): the picker's
    version number does not move between commits, and its behaviour does."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


@app.command("report")
def report(
    results: Annotated[Path, typer.Argument(help="A results.json written by a run.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: next to results.json).")] = None,
) -> None:
    """Re-render the markdown table and plots from a results.json, without running anything."""
    try:
        result = BenchResult.model_validate_json(results.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as err:
        raise typer.BadParameter(f"cannot read {results}: {err}", param_hint="RESULTS") from err
    _write(result, out or results.parent)


def _install_peers(venv: Path) -> int:
    """pip-installs the peer routers into ``venv`` (created if needed); returns pip's exit code."""
    if not (venv / "bin" / "pip").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    specs = [f"{package}{PEER_VERSION_RANGES[package]}" for package in PEER_PACKAGES]
    console.log(f"installing {specs} into {venv}")
    return subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *specs], check=False).returncode


@app.command("install-peers")
def install_peers(
    venv: Annotated[Path | None, typer.Option(help="Where to create the peers' virtualenv.")] = None,
) -> None:
    """Create a separate virtualenv with sglang-router, vllm-router and smg from PyPI."""
    code = _install_peers(venv or default_peers_venv())
    if code != 0:
        console.print(f"[red]pip failed ({code}); the bench will report these routers as unavailable[/]")
        raise typer.Exit(code)


@app.command("inference-perf")
def inference_perf(
    venv: Annotated[Path, typer.Option(help="inference-perf's virtualenv (`make bench-inference-perf` makes it).")]
    = Path(".venv-inference-perf"),
    stack: Annotated[str, typer.Option(help="The stack whose local gateway (infgw local) serves the load.")] = "single",
    rate: Annotated[float, typer.Option(help="Poisson request rate (req/s).")] = 4.0,
    duration: Annotated[int, typer.Option(help="Seconds of load per run.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed for the fleet, the prompts and the tokenizer corpus.")] = 1,
    out: Annotated[Path, typer.Option(help="Where inference-perf's reports and the comparison go.")] = Path(
        "docs/benchmarks/inference-perf"),
) -> None:
    """kubernetes-sigs inference-perf and the bench's driver, same shared-prefix load, through the local
    gateway's picker and through Envoy round-robin over the same simulated fleet (offline)."""
    from bench.inference_perf.recipe import InferencePerfRun, RecipeError, comparison_table, run_recipe

    work_dir = Path(tempfile.mkdtemp(prefix="bench-inference-perf-"))
    load_start = _load_average()
    try:
        figures = asyncio.run(run_recipe(InferencePerfRun(rate_rps=rate, duration_s=duration, stack=stack), venv,
                                         out, work_dir, seed, progress=lambda m: console.log(m)))
    except RecipeError as err:
        console.print(f"[red]{err}[/]")
        console.print(f"process logs kept in {work_dir}")
        raise typer.Exit(2) from None
    shutil.rmtree(work_dir, ignore_errors=True)  # the reports and configs are in --out
    typer.echo(comparison_table(figures))
    console.print(f"inference-perf reports and comparison.md in {out}; "
                  f"load average {load_start} -> {_load_average()}")
