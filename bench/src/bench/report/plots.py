"""PNG plots for a BenchResult: TTFT CDF per scenario, throughput vs offered load, hit rate vs bound."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt

from bench.report.markdown import MIN_MEANINGFUL_BOUND
from bench.report.result import BenchResult
from bench.stats.percentiles import empirical_cdf


def write_plots(result: BenchResult, out_dir: Path) -> list[Path]:
    """Writes the plots that have data; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for scenario in result.scenarios:
        runs = [r for r in scenario.runs if r.ttft_samples_ms]
        if not runs:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for run in runs:
            xs, ys = empirical_cdf(run.ttft_samples_ms)
            ax.step(xs, ys, where="post", label=run.target)
        ax.set_xscale("log")
        ax.set_xlabel("TTFT (ms, log scale)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"TTFT CDF: {scenario.name}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        written.append(_save(fig, out_dir / f"ttft-cdf-{scenario.name}.png"))

    # Only scenarios with prefix sharing to exploit; elsewhere every bar is ~0 and says nothing.
    with_cache = [s for s in result.scenarios if s.bound and s.bound.hit_rate >= MIN_MEANINGFUL_BOUND
                  and any(r.fleet_hit_rate is not None for r in s.runs)]
    if with_cache:
        fig, axes = plt.subplots(1, len(with_cache), figsize=(4.5 * len(with_cache), 4.5), squeeze=False)
        for ax, scenario in zip(axes[0], with_cache, strict=True):
            runs = [r for r in scenario.runs if r.fleet_hit_rate is not None]
            ax.barh([r.target for r in runs], [100 * (r.fleet_hit_rate or 0.0) for r in runs])
            if scenario.bound:
                ax.axvline(100 * scenario.bound.hit_rate, color="black", linestyle="--", label="bound")
                ax.legend(fontsize=8)
            ax.set_xlim(0, 100)
            ax.set_xlabel("prefix-cache hit rate (%)")
            ax.set_title(scenario.name, fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "prefix-hit-rate.png"))

    if result.sweeps:
        # Open-loop throughput tracks the offered load until a router falls over, so goodput (requests
        # within the SLO) is the panel that separates routers; both are drawn.
        scenarios = sorted({s.scenario for s in result.sweeps})
        fig, axes = plt.subplots(len(scenarios), 2, figsize=(12, 4.5 * len(scenarios)), squeeze=False)
        for row, name in zip(axes, scenarios, strict=True):
            for sweep in (s for s in result.sweeps if s.scenario == name):
                points = [p for p in sweep.points if p.summary is not None]
                rates = [p.rate_rps for p in points]
                row[0].plot(rates, [p.summary.output_tokens_per_s for p in points if p.summary],
                            marker="o", label=sweep.target)
                row[1].plot(rates, [p.summary.goodput_rps for p in points if p.summary],
                            marker="o", label=sweep.target)
            all_rates = sorted({p.rate_rps for s in result.sweeps if s.scenario == name for p in s.points})
            row[1].plot(all_rates, all_rates, color="grey", linestyle=":", label="offered")
            for ax, ylabel in zip(row, ("output tokens/s", "goodput (req/s within SLO)"), strict=True):
                ax.set_xlabel("offered load (req/s)")
                ax.set_ylabel(ylabel)
                ax.set_title(f"{ylabel} vs offered load: {name}", fontsize=10)
                ax.grid(True, alpha=0.3)
                ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(_save(fig, out_dir / "throughput-vs-load.png"))
    return written


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
