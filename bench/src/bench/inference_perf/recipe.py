"""Drives ``inference-perf`` and the bench's own driver through the same routers with the same load.

inference-perf lives in its own virtualenv (``make bench-inference-perf`` creates ``.venv-inference-perf``;
every release declares Python >= 3.12, and it installs and runs on 3.11 with pip's
``--ignore-requires-python``). The bench builds a tokenizer for it from seeded local text, so nothing is
downloaded at run time. Each (router, client) pair gets a freshly started local gateway from the stack's
plan (``infgw local``: simulated replicas, the picker, Envoy), so no run inherits another's KV cache; the
round-robin router is an Envoy round-robin pool over that gateway's replicas.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import aiohttp
import yaml
from pydantic import BaseModel, ConfigDict, Field

from bench.driver.load import OpenLoop
from bench.driver.runner import LoadDriver
from bench.stats.prefix_cache import cache_deltas, fleet_hit_rate, scrape_fleet
from bench.stats.slo import Slo
from bench.stats.summary import summarize
from bench.suite import tokenize_prompts
from bench.targets.base import FleetView
from bench.targets.envoy_baseline import EnvoyBaseline
from bench.workloads.request import RequestSpec
from bench.workloads.shared_prefix_questions import SharedPrefixQuestions
from bench.workloads.text import TextGenerator
from infgw.local.plan import LocalPlan

INFERENCE_PERF_SPEC = "inference-perf>=0.7,<0.8"
DEFAULT_VENV = Path(".venv-inference-perf")
INSTALL_FLAGS = ("--ignore-requires-python", "--only-binary=:all:")
BUILD_TOKENIZER = Path(__file__).with_name("build_tokenizer.py")
SUMMARY_FILE = "summary_lifecycle_metrics.json"

Router = Literal["picker", "envoy-round-robin"]
Client = Literal["inference-perf", "bench-driver"]
ROUTERS: tuple[Router, ...] = ("picker", "envoy-round-robin")
CLIENTS: tuple[Client, ...] = ("inference-perf", "bench-driver")
Progress = Callable[[str], None]


class RecipeError(RuntimeError):
    """The recipe cannot run here; the message says why and what to do."""


class InferencePerfRun(BaseModel):
    """A Poisson-rate shared-prefix load, sized in inference-perf's tokens (the bench driver sends as many
    words: the local tokenizer is trained on the same word list, about one token per word)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_rps: float = Field(default=4.0, gt=0)
    duration_s: int = Field(default=30, gt=0)
    groups: int = Field(default=8, ge=1)
    prompts_per_group: int = Field(default=16, ge=1)
    system_prompt_tokens: int = Field(default=2000, ge=1)
    question_tokens: int = Field(default=100, ge=1)
    output_tokens: int = Field(default=32, ge=1)
    stack: str = Field(default="single", description="The stack whose local gateway serves the load.")


class ClientFigures(BaseModel):
    """One client through one router: its own latency view and the replicas' view of the same run."""

    router: Router
    client: Client
    ok: int
    failed: int
    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    e2e_p50_ms: float | None
    e2e_p90_ms: float | None
    output_tokens_per_s: float | None
    server_prompt_tokens_per_request: float | None = Field(description="From the replicas' prefix-cache queries.")
    server_hit_rate: float | None = Field(description="The fleet's prefix-cache hit rate over the run.")


def install_command(venv: Path) -> str:
    return f'{venv}/bin/pip install {" ".join(INSTALL_FLAGS)} "{INFERENCE_PERF_SPEC}"'


def inference_perf_executable(venv: Path) -> Path:
    """The venv's console script, or RecipeError with the command that installs it."""
    executable = (venv / "bin" / "inference-perf").absolute()
    if not executable.exists():
        raise RecipeError(f"inference-perf is not installed in {venv}; `make bench-inference-perf` installs it "
                          f"(python3 -m venv {venv} && {install_command(venv)}; needs PyPI)")
    return executable


def build_tokenizer(venv: Path, out_dir: Path, seed: int) -> Path:
    """Trains the local tokenizer on seeded bench text with the venv's ``tokenizers`` package."""
    corpus = out_dir / "corpus.txt"
    out_dir.mkdir(parents=True, exist_ok=True)
    text = TextGenerator(random.Random(f"tokenizer:{seed}"))
    corpus.write_text("\n".join(text.words(200) for _ in range(2000)), encoding="utf-8")
    tokenizer_dir = out_dir / "tokenizer"
    subprocess.run([str(venv / "bin" / "python"), str(BUILD_TOKENIZER), str(corpus), str(tokenizer_dir)], check=True)
    return tokenizer_dir


def inference_perf_config(base_url: str, model: str, tokenizer_dir: Path, run: InferencePerfRun,
                          report_dir: Path, seed: int) -> dict[str, Any]:
    """inference-perf's YAML config (its documented keys): Poisson arrivals, shared-prefix data, vLLM server."""
    return {
        "load": {"type": "poisson", "stages": [{"rate": run.rate_rps, "duration": run.duration_s}]},
        "api": {"type": "completion", "streaming": True},
        "server": {"type": "vllm", "model_name": model, "base_url": base_url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": str(tokenizer_dir)},
        "data": {"type": "shared_prefix", "shared_prefix": {
            "num_unique_system_prompts": run.groups,
            "num_users_per_system_prompt": run.prompts_per_group,
            "system_prompt_len": run.system_prompt_tokens,
            "question_len": run.question_tokens,
            "output_len": run.output_tokens,
            "seed": seed,
        }},
        "report": {"request_lifecycle": {"summary": True, "per_stage": True, "per_request": False}},
        "storage": {"local_storage": {"path": str(report_dir)}},
    }


def driver_workload(run: InferencePerfRun, model: str, words_per_token: float = 1.0) -> SharedPrefixQuestions:
    """The same load for the bench's driver; three times the expected arrivals so it never runs dry.

    ``words_per_token`` scales the prompt sizes so the replicas see as many prompt tokens per request from
    the driver as from inference-perf (see ``calibrated_words_per_token``).
    """
    return SharedPrefixQuestions(model=model, requests=max(1, math.ceil(3 * run.rate_rps * run.duration_s)),
                                 max_tokens=run.output_tokens, groups=run.groups,
                                 questions_per_group=run.prompts_per_group,
                                 context_words=max(1, round(run.system_prompt_tokens * words_per_token)),
                                 question_words=max(1, round(run.question_tokens * words_per_token)))


def calibrated_words_per_token(target_tokens: float | None, measured_tokens: float) -> float:
    """Words per inference-perf token that give the driver's prompts ``target_tokens`` server tokens, given
    that one word per token gave ``measured_tokens``; 1.0 without a target (no inference-perf figure)."""
    if target_tokens is None or target_tokens <= 0 or measured_tokens <= 0:
        return 1.0
    return target_tokens / measured_tokens


def read_inference_perf_summary(path: Path) -> dict[str, float | int | None]:
    """The figures the comparison shows, from inference-perf's summary report (seconds -> ms)."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RecipeError(f"cannot read inference-perf's summary {path}: {err}") from err
    successes = summary.get("successes") or {}
    latency = successes.get("latency") or {}

    def ms(metric: str, key: str) -> float | None:
        value = (latency.get(metric) or {}).get(key)
        return None if value is None else float(value) * 1000.0

    return {
        "ok": int(successes.get("count") or 0),
        "failed": int((summary.get("failures") or {}).get("count") or 0),
        "ttft_p50_ms": ms("time_to_first_token", "median"), "ttft_p90_ms": ms("time_to_first_token", "p90"),
        "e2e_p50_ms": ms("request_latency", "median"), "e2e_p90_ms": ms("request_latency", "p90"),
        "output_tokens_per_s": (successes.get("throughput") or {}).get("output_tokens_per_sec"),
    }


def comparison_table(figures: list[ClientFigures]) -> str:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f}"

    lines = ["| router | client | ok | failed | TTFT p50 ms | TTFT p90 ms | e2e p50 ms | e2e p90 ms | out tok/s "
             "| server prompt tokens / request | server prefix hit |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in figures:
        tokens = "n/a" if f.server_prompt_tokens_per_request is None else f"{f.server_prompt_tokens_per_request:,.0f}"
        hit = "n/a" if f.server_hit_rate is None else f"{100 * f.server_hit_rate:.1f}%"
        rate = "n/a" if f.output_tokens_per_s is None else f"{f.output_tokens_per_s:,.0f}"
        lines.append(f"| {f.router} | {f.client} | {f.ok} | {f.failed} | {ms(f.ttft_p50_ms)} | {ms(f.ttft_p90_ms)} "
                     f"| {ms(f.e2e_p50_ms)} | {ms(f.e2e_p90_ms)} | {rate} | {tokens} | {hit} |")
    return "\n".join(lines)


@asynccontextmanager
async def serving(router: Router, plan: LocalPlan, work_dir: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A fresh local gateway; yields the URL ``router`` serves at and the replicas (name -> URL)."""
    from infgw.local.gateway import LocalGateway
    from infgw.local.gateway_options import GatewayOptions

    async with LocalGateway(plan, GatewayOptions(), work_dir) as gateway:
        pool = plan.pool(plan.default_pool)
        replicas = {replica.name: replica.url for replica in gateway.replicas_of(pool.name)}
        if router == "picker":
            yield gateway.url, replicas
            return
        round_robin = EnvoyBaseline("envoy-round-robin", "ROUND_ROBIN")
        async with round_robin.serve(FleetView(replicas=replicas, model=pool.model, work_dir=work_dir)) as url:
            yield url, replicas


def without_machine_paths(report_dir: Path, replacements: dict[Path, str]) -> None:
    """inference-perf echoes its config (absolute paths of this run) into the report; the published copy
    names them relative to the report instead, so the docs hold no machine's paths."""
    for config in report_dir.rglob("*.yaml"):
        text = config.read_text(encoding="utf-8")
        for path, replacement in replacements.items():
            text = text.replace(str(path), replacement)
        config.write_text(text, encoding="utf-8")


async def _inference_perf(executable: Path, config: dict[str, Any], work_dir: Path, timeout_s: float) -> None:
    config_path = work_dir / "inference-perf.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with (work_dir / "inference-perf.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(executable), "--config_file", str(config_path), cwd=work_dir, stdout=log, stderr=log,
            env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": str(executable.parent)})
        try:
            code = await asyncio.wait_for(process.wait(), timeout=timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RecipeError(f"inference-perf did not finish within {timeout_s:g} s") from None
    if code != 0:
        raise RecipeError(f"inference-perf exited with {code}; its log: {work_dir / 'inference-perf.log'}")


async def _calibrated_requests(run: InferencePerfRun, model: str, seed: int, replicas: dict[str, str],
                               target_tokens: float | None) -> list[RequestSpec]:
    """The driver's requests, sized by a replica's own /tokenize (which touches no cache) to match
    inference-perf's server-side prompt size."""
    probe = driver_workload(run, model).generate(seed)[: run.groups]
    tokens = await tokenize_prompts(next(iter(replicas.values())), model, probe)
    measured = sum(len(t) for t in tokens) / len(tokens)
    return driver_workload(run, model, calibrated_words_per_token(target_tokens, measured)).generate(seed)


async def run_recipe(run: InferencePerfRun, venv: Path, out_dir: Path, work_dir: Path, seed: int,
                     progress: Progress = lambda message: None) -> list[ClientFigures]:
    """Both clients through both routers; writes inference-perf's reports and the comparison to ``out_dir``."""
    from infgw.local.command import LocalUsageError, load_local_plan

    executable = inference_perf_executable(venv)
    tokenizer_dir = await asyncio.to_thread(build_tokenizer, venv, work_dir, seed)
    try:
        plan = await asyncio.to_thread(load_local_plan, run.stack, Path.cwd(), work_dir / "manifests", seed=seed)
    except LocalUsageError as err:
        raise RecipeError(f"stack {run.stack!r} cannot be served locally: {err}") from err
    model = plan.pool(plan.default_pool).model
    out_dir = out_dir.resolve()
    figures: list[ClientFigures] = []
    target_tokens: dict[Router, float] = {}  # server prompt tokens per inference-perf request, per router
    for router in ROUTERS:
        for client in CLIENTS:
            progress(f"{client} through {router}")
            run_dir = work_dir / f"{router}-{client}"
            run_dir.mkdir(parents=True)
            async with serving(router, plan, run_dir) as (url, replicas), aiohttp.ClientSession() as session:
                before = await scrape_fleet(session, replicas)
                if client == "inference-perf":
                    report_dir = out_dir / router
                    shutil.rmtree(report_dir, ignore_errors=True)
                    config = inference_perf_config(url, model, tokenizer_dir, run, report_dir, seed)
                    await _inference_perf(executable, config, run_dir, timeout_s=run.duration_s + 300)
                    numbers = read_inference_perf_summary(next(report_dir.rglob(SUMMARY_FILE), report_dir / SUMMARY_FILE))
                    without_machine_paths(report_dir, {report_dir: ".", tokenizer_dir: "<work dir>/tokenizer"})
                else:
                    requests = await _calibrated_requests(run, model, seed, replicas, target_tokens.get(router))
                    load = await LoadDriver(url, seed).run(requests, OpenLoop(rate_rps=run.rate_rps,
                                                                              duration_s=run.duration_s))
                    summary = summarize(load.records, load.window_s, Slo())
                    numbers = {"ok": summary.ok, "failed": summary.errors + summary.shed_429,
                               "ttft_p50_ms": summary.ttft.p50_ms, "ttft_p90_ms": summary.ttft.p90_ms,
                               "e2e_p50_ms": summary.e2e.p50_ms, "e2e_p90_ms": summary.e2e.p90_ms,
                               "output_tokens_per_s": summary.output_tokens_per_s}
                after = await scrape_fleet(session, replicas)
            cache = cache_deltas(before, after)
            queried = sum(stats.queries_tokens for stats in cache)
            ok = int(numbers["ok"] or 0)
            if client == "inference-perf" and ok:
                target_tokens[router] = queried / ok
            figures.append(ClientFigures.model_validate({
                **numbers, "router": router, "client": client, "server_hit_rate": fleet_hit_rate(cache),
                "server_prompt_tokens_per_request": queried / ok if ok else None}))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.json").write_text(
        json.dumps({"run": run.model_dump(), "seed": seed, "figures": [f.model_dump() for f in figures]}, indent=1)
        + "\n", encoding="utf-8")
    (out_dir / "comparison.md").write_text(comparison_table(figures) + "\n", encoding="utf-8")
    return figures
