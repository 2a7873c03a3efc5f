"""The analytical ceiling on prefix-cache hit rate: what an omniscient router could reach on a workload.

Model (see docs/benchmarks.md, "The analytical bound"):
- Prompts are cut into full blocks of ``block_size`` tokens; block i's key is the chain of blocks 0..i,
  as in vLLM's prefix cache, so a block can only hit when the whole prefix before it matches.
  A partial last block never hits. Hit rate = hit tokens / prompt tokens, vLLM's counter semantics.
- Compulsory bound: every block hits unless its key has never been seen (an infinite cache).
- Capacity bound: the fleet's KV capacity (``replicas x blocks_per_replica`` blocks) pooled into one
  cache run with Belady's MIN (evict the block reused furthest in the future; skip caching blocks
  never reused). Any router over R separate caches of C blocks holds at most R*C distinct blocks at a
  time, and MIN is optimal for a cache of that size, so no router can beat it.
- Ignored on purpose (each only lowers what is reachable, so the number stays an upper bound): KV
  held by running requests' decode tokens, per-replica fragmentation, load balance, timing.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Sequence

from pydantic import BaseModel

_NEVER = float("inf")


class PrefixCacheBound(BaseModel):
    prompt_tokens: int
    compulsory_hit_tokens: int  # infinite cache
    capacity_hit_tokens: int  # fleet capacity, optimal eviction
    block_size: int
    capacity_blocks: int

    @property
    def compulsory_hit_rate(self) -> float:
        return self.compulsory_hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def hit_rate(self) -> float:
        """The bound to compare routers against: the capacity-constrained one."""
        return self.capacity_hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def block_keys(tokens: Sequence[int], block_size: int) -> list[Hashable]:
    """Chained keys of the full blocks of ``tokens`` (equal keys <=> equal prefixes up to that block)."""
    keys: list[Hashable] = []
    parent: Hashable = None
    for start in range(0, len(tokens) - block_size + 1, block_size):
        parent = hash((parent, tuple(tokens[start:start + block_size])))
        keys.append(parent)
    return keys


def prefix_cache_bound(prompts: Sequence[Sequence[int]], block_size: int, replicas: int,
                       blocks_per_replica: int) -> PrefixCacheBound:
    """Bound for ``prompts`` (token ids, in arrival order) on ``replicas`` caches of ``blocks_per_replica``."""
    if block_size < 1 or replicas < 1 or blocks_per_replica < 1:
        raise ValueError("block_size, replicas and blocks_per_replica must all be >= 1, got "
                         f"{block_size}, {replicas}, {blocks_per_replica}")
    accesses = [key for prompt in prompts for key in block_keys(prompt, block_size)]
    capacity = replicas * blocks_per_replica

    seen: set[Hashable] = set()
    compulsory_hits = 0
    for key in accesses:
        compulsory_hits += key in seen
        seen.add(key)

    return PrefixCacheBound(
        prompt_tokens=sum(len(p) for p in prompts),
        compulsory_hit_tokens=compulsory_hits * block_size,
        capacity_hit_tokens=_belady_hits(accesses, capacity) * block_size,
        block_size=block_size,
        capacity_blocks=capacity,
    )


def _belady_hits(accesses: Sequence[Hashable], capacity: int) -> int:
    """Hits of Belady's MIN with bypass on ``accesses`` for a cache of ``capacity`` entries."""
    next_use: list[float] = [_NEVER] * len(accesses)
    last_seen: dict[Hashable, int] = {}
    for i in range(len(accesses) - 1, -1, -1):
        next_use[i] = last_seen.get(accesses[i], _NEVER)
        last_seen[accesses[i]] = i

    cached: dict[Hashable, float] = {}  # key -> its next use
    farthest: list[tuple[float, int, Hashable]] = []  # max-heap by next use; stale entries skipped lazily
    hits = 0
    for i, key in enumerate(accesses):
        if key in cached:
            hits += 1
        elif next_use[i] == _NEVER:
            continue  # never reused: caching it can only displace something useful
        elif len(cached) >= capacity:
            while True:
                negative_use, _, victim = heapq.heappop(farthest)
                if cached.get(victim) == -negative_use:
                    break
            if -negative_use <= next_use[i]:
                heapq.heappush(farthest, (negative_use, -1, victim))  # keep the victim; skip this key
                continue
            del cached[victim]
        if next_use[i] == _NEVER:
            cached.pop(key, None)
            continue
        cached[key] = next_use[i]
        heapq.heappush(farthest, (-next_use[i], i, key))
    return hits
