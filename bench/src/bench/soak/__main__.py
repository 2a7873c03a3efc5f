"""``python -m bench.soak --minutes 10``: hold the local gateway at ~50% of capacity and report."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    parser.add_argument("--replicas", type=int, default=4, help="simulator replicas (default 4)")
    parser.add_argument("--load", type=float, default=0.5, help="fraction of measured capacity (default 0.5)")
    parser.add_argument("--seed", type=int, default=7, help="seed of arrivals and prompts (default 7)")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between table rows (default 10)"
    )
    parser.add_argument(
        "--prefix-lru-capacity",
        type=int,
        default=31_250,
        help="prefix-cache scorer entries per replica (default 31250, the EPP's); smaller reaches the "
        "index's bound sooner, so a short soak can show memory flat once the index is full",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.replicas < 1 or not 0 < args.load <= 1 or args.interval <= 0:
        parser.error("--minutes and --interval must be > 0, --replicas >= 1, 0 < --load <= 1")
    if args.prefix_lru_capacity < 1:
        parser.error("--prefix-lru-capacity must be >= 1")
    # SIGTERM unwinds like Ctrl-C, so the gateway's processes are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench.soak.soak import run_soak

    return asyncio.run(
        run_soak(args.minutes, args.replicas, args.load, args.seed, args.interval, args.prefix_lru_capacity)
    )


if __name__ == "__main__":
    sys.exit(main())
