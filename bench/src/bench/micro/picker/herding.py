"""What in-flight awareness buys: TTFT when many requests arrive between two metric scrapes.

Runs ``replica_sim`` with unique prompts (no prefix sharing) at a rate where about 20 requests arrive per
50 ms scrape interval. A scorer that reads only scraped metrics sends every one of them to the endpoint
that looked best at the last scrape; the project's load-headroom scorer also counts what the picker
itself routed since. Not a test: run it by hand.

    .venv/bin/python -m bench.micro.picker.herding [--seed 1] [--requests 4000] [--rate 400]
"""

from __future__ import annotations

import argparse

from picker.config import default_config, load_config_text, recommended_config

from bench.micro.picker.replica_sim import SimParameters, simulate

QUEUE_ONLY = "plugins: [{type: queue-scorer}]"
LOAD_HEADROOM_ONLY = "plugins: [{type: load-headroom-scorer}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=400.0, help="arrivals per second (Poisson)")
    args = parser.parse_args()
    params = SimParameters(
        replicas=8, max_batch=16, decode_s=0.25, system_prompt_tokens=0, system_prompts=1, question_tokens=256
    )
    profiles = {
        "epp-default (queue + kv + prefix)": default_config(),
        "queue-scorer alone": load_config_text(QUEUE_ONLY),
        "load-headroom-scorer alone": load_config_text(LOAD_HEADROOM_ONLY),
        "project (recommended)": recommended_config(),
    }
    results = {
        name: simulate(config, params, args.seed, args.requests, args.rate)
        for name, config in profiles.items()
    }
    baseline = next(iter(results.values()))
    print(
        f"# Herding simulation: {params.replicas} replicas x {params.max_batch} seqs, {args.requests} unique-prompt "
        f"requests at {args.rate}/s (about {args.rate * 0.05:.0f} per 50 ms scrape), seed={args.seed}"
    )
    print(
        "| profile | TTFT p50 (s) | TTFT p90 (s) | TTFT p99 (s) | TTFT mean vs epp-default | deepest replica queue |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        print(
            f"| {name} | {result['ttft_p50_s']:.3f} | {result['ttft_p90_s']:.3f} | {result['ttft_p99_s']:.3f} | "
            f"{result['ttft_mean_s'] / baseline['ttft_mean_s']:.2f}x | {result['deepest_queue']} |"
        )


if __name__ == "__main__":
    main()
