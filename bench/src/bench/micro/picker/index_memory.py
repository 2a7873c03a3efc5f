"""Bytes per entry of the picker's prefix structures, measured with tracemalloc: the routing history
(``PrefixIndex``, per block and endpoint) and the precise scorer's KV-block index (``KVBlockIndex``, per
indexed block key). Feeds the memory rows of docs/picker.md's capacity planning.

    .venv/bin/python -m bench.micro.picker.index_memory
"""

from __future__ import annotations

import argparse
import random
import tracemalloc

from picker.framework.kv_events import BlockStored
from picker.kvevents.block_index import KVBlockIndex
from picker.kvevents.block_keys import BlockKeyHasher
from picker.plugins.prefix_index import PrefixIndex

BLOCK_SIZE = 16
BLOCKS_PER_PROMPT = 25


def history_bytes_per_entry(endpoints: int, prompts: int, rng: random.Random) -> float:
    prompts_hashes = [[rng.getrandbits(63) for _ in range(BLOCKS_PER_PROMPT)] for _ in range(endpoints * prompts)]
    tracemalloc.start()
    index = PrefixIndex(10_000_000)
    for number, hashes in enumerate(prompts_hashes):
        index.add(f"endpoint-{number % endpoints}", hashes)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return used / (len(prompts_hashes) * BLOCKS_PER_PROMPT)


def kv_index_bytes_per_key(endpoints: int, prompts: int, rng: random.Random) -> float:
    events = [
        (f"endpoint-{endpoint}",
         BlockStored(tuple(rng.getrandbits(63) for _ in range(BLOCKS_PER_PROMPT)), None,
                     tuple(rng.randrange(32_000) for _ in range(BLOCK_SIZE * BLOCKS_PER_PROMPT)), BLOCK_SIZE))
        for endpoint in range(endpoints) for _ in range(prompts)
    ]  # fmt: skip
    tracemalloc.start()
    index = KVBlockIndex(BlockKeyHasher(BLOCK_SIZE), 10_000_000, 10)
    for endpoint, event in events:
        index.store(endpoint, event)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return used / (len(events) * BLOCKS_PER_PROMPT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=400, help="distinct prompts stored per endpoint")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    entries = args.endpoints * args.prompts * BLOCKS_PER_PROMPT
    print(f"| structure | bytes per entry ({entries:,} entries, {args.endpoints} endpoints) |")
    print("|---|---:|")
    print(f"| routing history (PrefixIndex), per (block, endpoint) | "
          f"{history_bytes_per_entry(args.endpoints, args.prompts, rng):.0f} |")
    print(f"| KV-block index (KVBlockIndex), per block key, one holder | "
          f"{kv_index_bytes_per_key(args.endpoints, args.prompts, rng):.0f} |")


if __name__ == "__main__":
    main()
