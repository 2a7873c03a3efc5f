"""Closed-loop load through the regional gateway: each client belongs to a region (the tier's client
region header) and records where each of its requests was served. Used by the tests and the scenarios."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from infgw.local.regions.tier_bootstrap import CLIENT_REGION_HEADER, SERVED_REGION_HEADER

if TYPE_CHECKING:
    from infgw.local.regions.gateway import RegionalGateway

# A small KV cache (48 blocks x 16 tokens per replica, context capped to fit) so a few closed-loop clients
# fill a simulated replica's cache: the simulator settings the tests and scenarios run the regions with.
SMALL_KV_CACHE = {"num_gpu_blocks": 48, "max_model_len": 512}


@dataclass(frozen=True)
class Outcome:
    client_region: str
    served_region: str  # "" without an answer from a region
    status: int  # 0: no HTTP answer
    started_s: float  # time.monotonic()
    ended_s: float


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)

    def served(self, client_region: str) -> Counter[str]:
        """Where ``client_region``'s answered requests were served."""
        return Counter(
            o.served_region for o in self.outcomes if o.client_region == client_region and o.status == 200
        )

    def failed(self, since_s: float = 0.0) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200 and o.started_s >= since_s]

    def share_elsewhere(self, client_region: str) -> float:
        served = self.served(client_region)
        total = sum(served.values())
        return (total - served[client_region]) / total if total else 0.0


@dataclass(frozen=True)
class RequestShape:
    """Distinct prompts (no prefix-cache sharing) of ``prompt_words`` words, ``max_tokens`` generated."""

    model: str
    prompt_words: int = 80
    max_tokens: int = 32
    timeout_s: float = 30.0


async def run_load(
    session: aiohttp.ClientSession,
    url: str,
    shape: RequestShape,
    clients: dict[str, int],
    duration_s: float,
    max_requests: int,
    result: LoadResult | None = None,
) -> LoadResult:
    """``clients``: region -> concurrent clients. Stops after ``duration_s`` or ``max_requests``."""
    result = result if result is not None else LoadResult()
    counter = itertools.count()
    stop_at = time.monotonic() + duration_s

    async def client(region: str) -> None:
        while time.monotonic() < stop_at and (number := next(counter)) < max_requests:
            body = {
                "model": shape.model,
                "prompt": f"request {number}: " + "tell me more " * (shape.prompt_words // 3),
                "max_tokens": shape.max_tokens,
            }
            started = time.monotonic()
            status, served = 0, ""
            try:
                async with session.post(
                    f"{url}/v1/completions",
                    json=body,
                    headers={CLIENT_REGION_HEADER: region},
                    timeout=aiohttp.ClientTimeout(total=shape.timeout_s),
                ) as response:
                    await response.read()
                    status, served = response.status, response.headers.get(SERVED_REGION_HEADER, "")
            except (aiohttp.ClientError, TimeoutError):
                pass
            result.outcomes.append(Outcome(region, served, status, started, time.monotonic()))

    await asyncio.gather(*(client(region) for region, count in clients.items() for _ in range(count)))
    return result


async def record_reported(
    gateway: RegionalGateway, region: str, samples: list[float], every_s: float = 0.25
) -> None:
    """Append ``region``'s reported utilization to ``samples`` until cancelled (run it beside a load)."""
    while True:
        if (value := gateway.reported[region]) is not None:
            samples.append(value)
        await asyncio.sleep(every_s)
