"""Per-replica prefix-cache hit rate (and preemptions) from the vLLM counters on each model server's /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

HITS = "vllm:prefix_cache_hits_total"  # prompt tokens served from the prefix cache
QUERIES = "vllm:prefix_cache_queries_total"  # prompt tokens looked up
PREEMPTIONS = "vllm:num_preemptions_total"  # running requests that lost their KV (optional counter)


class CacheCounters(BaseModel):
    hits_tokens: float
    queries_tokens: float
    preemptions: float = 0.0


class ReplicaCacheStats(BaseModel):
    """Counter deltas over one run for one replica."""

    replica: str
    hits_tokens: float
    queries_tokens: float
    preemptions: float = 0.0

    @property
    def hit_rate(self) -> float | None:
        return self.hits_tokens / self.queries_tokens if self.queries_tokens > 0 else None


def parse_cache_counters(metrics_text: str) -> CacheCounters:
    """Sums the hit and query counters over all label sets. Missing counters raise ValueError."""
    totals = {HITS: 0.0, QUERIES: 0.0, PREEMPTIONS: 0.0}
    seen: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
                seen.add(sample.name)
    missing = sorted({HITS, QUERIES} - seen)
    if missing:
        raise ValueError(f"model server /metrics lacks {missing}; the prefix-cache hit rate needs both counters")
    return CacheCounters(hits_tokens=totals[HITS], queries_tokens=totals[QUERIES], preemptions=totals[PREEMPTIONS])


async def scrape_fleet(session: aiohttp.ClientSession, replicas: Mapping[str, str]) -> dict[str, CacheCounters]:
    """``replicas`` maps a replica name to its base URL; returns each replica's counters."""

    async def one(url: str) -> CacheCounters:
        async with session.get(url.rstrip("/") + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            resp.raise_for_status()
            return parse_cache_counters(await resp.text())

    names = list(replicas)
    counters = await asyncio.gather(*(one(replicas[name]) for name in names))
    return dict(zip(names, counters, strict=True))


def cache_deltas(before: Mapping[str, CacheCounters], after: Mapping[str, CacheCounters]) -> list[ReplicaCacheStats]:
    return [
        ReplicaCacheStats(replica=name,
                          hits_tokens=after[name].hits_tokens - before[name].hits_tokens,
                          queries_tokens=after[name].queries_tokens - before[name].queries_tokens,
                          preemptions=after[name].preemptions - before[name].preemptions)
        for name in sorted(after)
    ]


def fleet_hit_rate(stats: Sequence[ReplicaCacheStats]) -> float | None:
    """Token-weighted hit rate over the fleet (what a cache-sizing decision cares about)."""
    queries = sum(s.queries_tokens for s in stats)
    return sum(s.hits_tokens for s in stats) / queries if queries > 0 else None
