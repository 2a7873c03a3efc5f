"""How fast the engine simulates, against real time: the CPU one simulated replica costs at a given load.

Drives the pure engine (with the metrics recorder, as the server does) in virtual time through a seeded
Poisson workload on the H100 profile, and prints per arrival rate the simulated seconds, the wall time
spent, the real-time factor (simulated / wall: above 1 the simulator keeps up) and the share of one
core a replica needs at that load (wall / simulated).

    .venv/bin/python -m bench.micro.sim.engine_speed --duration-s 20 --rate 5 --rate 20 --rate 50
"""

from __future__ import annotations

import random
import time
from array import array
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sim.engine import Engine, EngineConfig, GenerationRequest, SequenceFinished, TokenGenerated
from sim.latency_profile import load_profile
from sim.metrics import SimMetrics

app = typer.Typer(add_completion=False, help=__doc__)


def simulate(
    rate_per_s: float, duration_s: float, prompt_tokens: int, output_tokens: int, seed: int
) -> dict[str, float]:
    profile = load_profile("h100-llama3.1-8b")
    config = EngineConfig(profile=profile, num_gpu_blocks=profile.num_gpu_blocks, max_model_len=16384)
    engine = Engine(config, random.Random(seed))
    metrics = SimMetrics("bench", config, engine.stats, wall_clock=lambda: 0.0)
    workload = random.Random(seed)
    arrivals: list[float] = []
    now_s = 0.0
    while now_s < duration_s:
        now_s += workload.expovariate(rate_per_s)
        arrivals.append(now_s)
    tokens = 0
    finished = 0
    started = time.perf_counter()
    for index, arrival_s in enumerate(arrivals):
        while (wakeup_s := engine.next_wakeup_s()) is not None and wakeup_s <= arrival_s:
            events = engine.advance(wakeup_s)
            metrics.observe(events)
            tokens += sum(isinstance(e, TokenGenerated) for e in events)
        prompt = tuple(array("I", workload.randbytes(4 * prompt_tokens)))
        engine.submit(GenerationRequest(f"r{index}", prompt, output_tokens, ignore_eos=True), arrival_s)
    end_s = arrivals[-1]
    while (wakeup_s := engine.next_wakeup_s()) is not None:
        events = engine.advance(wakeup_s)
        metrics.observe(events)
        tokens += sum(isinstance(e, TokenGenerated) for e in events)
        finished += sum(isinstance(e, SequenceFinished) for e in events)
        end_s = wakeup_s
    wall_s = time.perf_counter() - started
    return {"requests": len(arrivals), "simulated_s": end_s, "wall_s": wall_s, "tokens": tokens}


@app.command()
def main(
    rate: Annotated[list[float] | None, typer.Option(help="Arrival rates, requests/s (repeatable).")] = None,
    duration_s: Annotated[float, typer.Option(help="Simulated seconds of arrivals per rate.")] = 20.0,
    prompt_tokens: Annotated[int, typer.Option(help="Prompt length.")] = 512,
    output_tokens: Annotated[int, typer.Option(help="Output length (ignore_eos).")] = 128,
    seed: Annotated[int, typer.Option(help="Workload and engine seed.")] = 0,
) -> None:
    table = Table(
        title=f"engine speed vs real time (h100-llama3.1-8b, {prompt_tokens} in / {output_tokens} out)"
    )
    for column in ("req/s", "requests", "simulated s", "wall s", "x real time", "core share", "sim tok/s"):
        table.add_column(column, justify="right")
    for requests_per_s in rate or [5.0, 20.0, 50.0]:
        result = simulate(requests_per_s, duration_s, prompt_tokens, output_tokens, seed)
        factor = result["simulated_s"] / result["wall_s"]
        table.add_row(
            f"{requests_per_s:g}",
            str(result["requests"]),
            f"{result['simulated_s']:.1f}",
            f"{result['wall_s']:.2f}",
            f"{factor:.1f}",
            f"{1 / factor:.1%}",
            f"{result['tokens'] / result['simulated_s']:.0f}",
        )
    Console().print(table)


if __name__ == "__main__":
    app()
