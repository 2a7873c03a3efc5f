"""Bounded closed-loop load: N workers post until a deadline or a request budget, every outcome kept."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sim.config import SimConfig


@dataclass
class Outcome:
    status: int  # 0 = no HTTP answer (connection error, timeout)
    replica: str
    started_s: float
    latency_s: float
    error: str = ""


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def lost(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    def by_replica(self) -> Counter[str]:
        return Counter(o.replica for o in self.outcomes if o.status == 200)

    def statuses(self) -> Counter[int]:
        return Counter(o.status for o in self.outcomes)


def completion(prompt: str, max_tokens: int = 4, **extra: Any) -> dict[str, Any]:
    """A completion for the model a replica serves when its config names none (the simulator's default)."""
    model = SimConfig.model_fields["model"].default
    return {"model": model, "prompt": prompt, "max_tokens": max_tokens, **extra}


async def post_once(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Outcome:
    started = time.monotonic()
    try:
        async with session.post(url + "/v1/completions", json=body, headers=headers or {}) as response:
            payload = await response.read()
            # A refusal keeps the start of its body: which layer said no, and why.
            error = "" if response.status == 200 else payload[:300].decode(errors="replace")
            return Outcome(
                response.status, response.headers.get("x-sim-replica", ""), started,
                time.monotonic() - started, error,
            )  # fmt: skip
    except (aiohttp.ClientError, TimeoutError) as error:
        return Outcome(0, "", started, time.monotonic() - started, repr(error))


async def run_load(
    url: str,
    *,
    workers: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    max_requests: int = 20_000,
    timeout_s: float = 10.0,
    at_least_once: bool = False,
) -> LoadResult:
    """Each worker posts distinct prompts back to back until ``duration_s`` or ``max_requests`` in all."""
    result = LoadResult()
    deadline = time.monotonic() + duration_s
    sent = 0

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal sent
        first = at_least_once
        while (first or time.monotonic() < deadline) and sent < max_requests:
            first = False
            sent += 1
            body = completion(f"worker {index} request {sent}: tell me about gateways")
            result.outcomes.append(await post_once(session, url, body, headers))

    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(i, session) for i in range(workers)))
    return result
