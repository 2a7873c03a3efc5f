"""The ``vllm-sim`` / ``python -m sim`` command: one simulated vLLM replica, served until SIGINT/SIGTERM.

The command line is vLLM's (``python3 -m vllm.entrypoints.openai.api_server`` args run unchanged): the
flags the simulator models change its behaviour, the other vLLM flags are accepted and listed once on
stderr, a flag vLLM does not have exits 2 (``sim/vllm_flags.py`` holds vLLM's list). Simulator-only
options (latency profile, faults, name, mode) come on top; --config reads a YAML of simulator keys (flags
win). Once listening, the URL and port are printed on stdout as one JSON line, for launchers that start
replicas as subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sim.config import ConfigError, LoraModule, SimConfig
from sim.kv_events.config import KVEventsConfig, KVEventsConfigError
from sim.readiness_line import SimReadinessLine
from sim.server import start_simulator
from sim.vllm_command_line import CommandLineError, TranslatedCommandLine, VllmCommandLine

# Plain click help: rich panels cut long flag names to an ellipsis on an 80-column terminal.
app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=False, rich_markup_mode=None)


def simulator_options() -> dict[str, bool]:
    """Every spelling the simulator's own CLI takes -> whether it takes a value."""
    command = typer.main.get_command(app)
    options = {"--help": False}
    for param in command.params:
        if param.param_type_name == "option":  # typer's (vendored) click Option
            for spelling in (*param.opts, *param.secondary_opts):
                options[spelling] = not param.is_flag
    return options


def translate_command_line(argv: list[str]) -> TranslatedCommandLine:
    """vLLM's argv (plus simulator options) -> the simulator CLI's argv and the vLLM flags it ignores."""
    return VllmCommandLine(simulator_options()).translate(argv)


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option(help="YAML file of simulator config keys.")] = None,
    model: Annotated[str | None, typer.Option(help="Base model name.")] = None,
    served_model_name: Annotated[
        list[str] | None, typer.Option(help="Names the base model answers to.")
    ] = None,
    lora_modules: Annotated[
        list[str] | None, typer.Option(help='Adapters: name=path or JSON {"name": ..., "path": ...}.')
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind; 0 picks a free one.")] = None,
    name: Annotated[
        str | None, typer.Option(envvar="POD_NAME", help="Replica name (x-sim-replica header, /health).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for every random draw.")] = None,
    profile: Annotated[str | None, typer.Option(help="Latency profile name or YAML path.")] = None,
    mode: Annotated[str | None, typer.Option(help="random text, or echo the prompt.")] = None,
    max_num_seqs: Annotated[int | None, typer.Option(help="Most sequences running at once.")] = None,
    max_num_batched_tokens: Annotated[int | None, typer.Option(help="Token budget of one step.")] = None,
    max_model_len: Annotated[int | None, typer.Option(help="Context window (prompt + output).")] = None,
    num_gpu_blocks: Annotated[
        int | None,
        typer.Option("--num-gpu-blocks", "--num-gpu-blocks-override", help="KV-cache size in blocks."),
    ] = None,
    block_size: Annotated[int | None, typer.Option(help="Tokens per KV block.")] = None,
    max_loras: Annotated[int | None, typer.Option(help="Adapters resident at once.")] = None,
    enable_lora: Annotated[
        bool | None,
        typer.Option(help="Serve LoRA adapters; --no-enable-lora refuses them (default: allowed)."),
    ] = None,
    enable_prefix_caching: Annotated[bool | None, typer.Option(help="Automatic prefix caching.")] = None,
    scheduling_policy: Annotated[
        str | None, typer.Option(help="fcfs, or priority (the request's `priority`, lower first).")
    ] = None,
    error_rate: Annotated[float | None, typer.Option(help="Fault: share of requests failed.")] = None,
    error_status: Annotated[int | None, typer.Option(help="Fault: status of injected failures.")] = None,
    extra_latency_s: Annotated[
        float | None, typer.Option(help="Fault: delay before each generation.")
    ] = None,
    slowdown_factor: Annotated[float | None, typer.Option(help="Fault: multiplies step times.")] = None,
    hang_rate: Annotated[float | None, typer.Option(help="Fault: share of requests never answered.")] = None,
    cut_rate: Annotated[float | None, typer.Option(help="Fault: share of connections dropped.")] = None,
    cut_after_tokens: Annotated[
        int | None, typer.Option(help="Fault: tokens streamed before a drop.")
    ] = None,
    shutdown_timeout_s: Annotated[
        float | None, typer.Option(help="Grace for in-flight requests on stop.")
    ] = None,
    tokenizer: Annotated[
        str | None, typer.Option(help="Directory with the model's tokenizer.json; default: approximate.")
    ] = None,
    chat_template: Annotated[
        str | None, typer.Option(help="Jinja chat template file or text (overrides the tokenizer's).")
    ] = None,
    kv_events_config: Annotated[
        str | None,
        typer.Option(help="vLLM's KV-event config as JSON, e.g. '{\"enable_kv_cache_events\":true}'."),
    ] = None,
    kv_events_encoding: Annotated[
        str | None, typer.Option(help="Simulator only: event encoding, map (vLLM >= 0.24) or array.")
    ] = None,
    kv_events_int_block_hashes: Annotated[
        bool | None,
        typer.Option(
            envvar="VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES", help="Block hashes as uint64 (else raw bytes)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "WARNING",
    check_config: Annotated[
        bool, typer.Option(help="Print the resolved config as JSON and exit without serving.")
    ] = False,
) -> None:
    """Start one simulated vLLM replica."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    values: dict[str, Any] = {
        key: value
        for key, value in {
            "model": model,
            "served_model_name": served_model_name or None,
            "host": host,
            "port": port,
            "name": name,
            "seed": seed,
            "profile": profile,
            "mode": mode,
            "max_num_seqs": max_num_seqs,
            "max_num_batched_tokens": max_num_batched_tokens,
            "max_model_len": max_model_len,
            "num_gpu_blocks": num_gpu_blocks,
            "block_size": block_size,
            "max_loras": max_loras,
            "enable_lora": enable_lora,
            "enable_prefix_caching": enable_prefix_caching,
            "scheduling_policy": scheduling_policy,
            "shutdown_timeout_s": shutdown_timeout_s,
            "tokenizer": tokenizer,
            "chat_template": chat_template,
            "kv_events_encoding": kv_events_encoding,
            "kv_events_int_block_hashes": kv_events_int_block_hashes,
        }.items()
        if value is not None
    }
    faults = {
        key: value
        for key, value in {
            "error_rate": error_rate,
            "error_status": error_status,
            "extra_latency_s": extra_latency_s,
            "slowdown_factor": slowdown_factor,
            "hang_rate": hang_rate,
            "cut_rate": cut_rate,
            "cut_after_tokens": cut_after_tokens,
        }.items()
        if value is not None
    }
    try:
        if lora_modules:
            values["lora_modules"] = [LoraModule.parse(spec) for spec in lora_modules]
        if kv_events_config is not None:
            values["kv_events_config"] = KVEventsConfig.from_json(kv_events_config)
        sim_config = build_config(config, values, faults)
    except (ConfigError, KVEventsConfigError) as err:
        typer.echo(f"vllm-sim: {err}", err=True)
        raise typer.Exit(2) from err
    if check_config:
        typer.echo(sim_config.model_dump_json())
        return
    try:
        asyncio.run(_serve(sim_config))
    except OSError as err:
        typer.echo(f"vllm-sim: cannot listen on {sim_config.host}:{sim_config.port}: {err}", err=True)
        raise typer.Exit(1) from err


def build_config(path: Path | None, values: dict[str, Any], faults: dict[str, Any]) -> SimConfig:
    """Merge the YAML file (if any) with command-line values, which win key by key (faults too)."""
    base = SimConfig.from_yaml(path).model_dump(exclude_unset=True) if path is not None else {}
    if faults:
        values = values | {"faults": base.get("faults", {}) | faults}
    sim_config = SimConfig.build(**(base | values))
    # Profile and engine limits fail here, before anything listens.
    sim_config.engine_config(sim_config.load_profile())
    return sim_config


async def _serve(config: SimConfig) -> None:
    handle = await start_simulator(config)
    publisher = handle.runtime.kv_events.publisher if handle.runtime.kv_events is not None else None
    listening = SimReadinessLine(
        url=handle.url,
        port=handle.port,
        name=handle.name,
        kv_events_endpoint=publisher.endpoint if publisher is not None else None,
        kv_events_replay_endpoint=publisher.replay_endpoint if publisher is not None else None,
    )
    print(listening.render(), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await handle.stop()


def main(argv: list[str] | None = None) -> None:
    """Translate vLLM's command line, report the flags not modelled, then run the simulator's CLI."""
    try:
        command_line = translate_command_line(sys.argv[1:] if argv is None else argv)
    except CommandLineError as err:
        typer.echo(f"vllm-sim: error: {err}", err=True)
        raise SystemExit(2) from err
    if command_line.ignored_vllm_flags:
        typer.echo(
            "vllm-sim: ignoring vLLM flags the simulator does not model: "
            + ", ".join(command_line.ignored_vllm_flags),
            err=True,
        )
    app(args=command_line.simulator_argv, prog_name="vllm-sim")


if __name__ == "__main__":
    main()
