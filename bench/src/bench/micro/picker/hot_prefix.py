"""What the project profile buys: TTFT and prefix-cache reuse under a hot system prompt, in virtual time.

Runs ``replica_sim`` with a Zipf workload over system prompts, so one prompt carries about a third of the
traffic, more than one replica can serve. Not a test: run it by hand.

    .venv/bin/python -m bench.micro.picker.hot_prefix [--seed 1] [--requests 3000] [--rate 45]
"""

from __future__ import annotations

import argparse

from picker.config import default_config, load_config_text, recommended_config

from bench.micro.picker.replica_sim import SimParameters, print_comparison, simulate

EPP_V1_2_WEIGHTS = """
plugins: [{type: queue-scorer}, {type: kv-cache-utilization-scorer}, {type: prefix-cache-scorer}]
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: prefix-cache-scorer, weight: 3}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=45.0, help="arrivals per second (Poisson)")
    args = parser.parse_args()
    params = SimParameters()
    profiles = {
        "epp-default (v1.1 weights 1/1/1)": default_config(),
        "epp v1.2 weights (queue 2, kv 2, prefix 3)": load_config_text(EPP_V1_2_WEIGHTS),
        "project (recommended)": recommended_config(),
    }
    results = {
        name: simulate(config, params, args.seed, args.requests, args.rate)
        for name, config in profiles.items()
    }
    print(
        f"# Hot-prefix simulation: {params.replicas} replicas x {params.max_batch} seqs, {args.requests} requests "
        f"at {args.rate}/s, Zipf({params.zipf_exponent}) over {params.system_prompts} system prompts, seed={args.seed}"
    )
    print_comparison(results)


if __name__ == "__main__":
    main()
