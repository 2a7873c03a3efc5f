"""Drives a workload through a target under a load shape, bounded in count (the workload) and time."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from bench.driver.client import ChatStreamClient
from bench.driver.load import ClosedLoop, LoadShape, OpenLoop
from bench.driver.record import RequestRecord
from bench.workloads.request import RequestSpec


@dataclass(slots=True)
class LoadRun:
    """Records of one run plus its time window (``started_at_s`` to ``ended_at_s`` on the driver clock)."""

    records: list[RequestRecord]
    started_at_s: float
    ended_at_s: float
    load_label: str

    @property
    def window_s(self) -> float:
        return max(self.ended_at_s - self.started_at_s, 1e-9)


class _RotatingClient:
    """Sends request i through client i mod n."""

    def __init__(self, clients: list[ChatStreamClient]) -> None:
        self._clients = clients

    async def send(self, request: RequestSpec) -> RequestRecord:
        return await self._clients[request.index % len(self._clients)].send(request)


class LoadDriver:
    """Sends ``requests`` in order to ``base_url``; seeded arrivals; every request ends up in a record."""

    def __init__(
        self,
        base_url: str,
        seed: int,
        request_timeout_s: float = 120.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._base_url = base_url
        self._seed = seed
        self._request_timeout_s = request_timeout_s
        self._clock = clock

    async def run(self, requests: Sequence[RequestSpec], load: LoadShape) -> LoadRun:
        # No connection cap: a closed pool would turn an open loop into a closed one.
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            # A comma-separated list means client-side round-robin (the no-router baseline).
            clients = [ChatStreamClient(session, url, self._request_timeout_s, self._clock)
                       for url in self._base_url.split(",")]
            client = clients[0] if len(clients) == 1 else _RotatingClient(clients)
            if isinstance(load, OpenLoop):
                return await self._open_loop(client, requests, load)
            return await self._closed_loop(client, requests, load)

    async def _open_loop(self, client: ChatStreamClient | _RotatingClient, requests: Sequence[RequestSpec],
                         load: OpenLoop) -> LoadRun:
        arrivals = random.Random(f"arrivals:{self._seed}")
        started = self._clock()
        deadline = started + load.duration_s
        in_flight: dict[asyncio.Task[RequestRecord], tuple[RequestSpec, float]] = {}
        next_at = started
        for request in requests:
            next_at += arrivals.expovariate(load.rate_rps)
            if next_at >= deadline:
                break
            delay = next_at - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(client.send(request))
            in_flight[task] = (request, self._clock())
        return await self._drain(in_flight, started, load.drain_timeout_s, load.label())

    async def _closed_loop(self, client: ChatStreamClient | _RotatingClient, requests: Sequence[RequestSpec],
                           load: ClosedLoop) -> LoadRun:
        started = self._clock()
        deadline = started + load.duration_s
        queue = iter(requests)
        records: list[RequestRecord] = []

        current: dict[int, tuple[RequestSpec, float]] = {}

        async def worker(worker_id: int) -> None:
            while self._clock() < deadline:
                request = next(queue, None)  # a shared iterator: each request goes to exactly one worker
                if request is None:
                    return
                current[worker_id] = (request, self._clock())
                records.append(await client.send(request))
                del current[worker_id]

        workers = {asyncio.create_task(worker(i)) for i in range(load.concurrency)}
        # Workers stop taking work at the deadline; the drain bounds how long the last requests may take.
        _, pending = await asyncio.wait(workers, timeout=load.duration_s + load.drain_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for request, sent_at in current.values():
            records.append(RequestRecord(index=request.index, priority_class=request.priority_class,
                                         prefix_group=request.prefix_group, sent_at_s=sent_at,
                                         error="unfinished at drain deadline"))
        records.sort(key=lambda r: r.index)
        return LoadRun(records, started, self._last_finish(records, started), load.label())

    async def _drain(self, in_flight: dict[asyncio.Task[RequestRecord], tuple[RequestSpec, float]],
                     started: float, drain_timeout_s: float, label: str) -> LoadRun:
        if in_flight:
            await asyncio.wait(in_flight.keys(), timeout=drain_timeout_s)
        records: list[RequestRecord] = []
        for task, (request, sent_at) in in_flight.items():
            if task.done() and not task.cancelled():
                records.append(task.result())
                continue
            task.cancel()
            records.append(RequestRecord(index=request.index, priority_class=request.priority_class,
                                         prefix_group=request.prefix_group, sent_at_s=sent_at,
                                         error="unfinished at drain deadline"))
        await asyncio.gather(*in_flight.keys(), return_exceptions=True)
        records.sort(key=lambda r: r.index)
        return LoadRun(records, started, self._last_finish(records, started), label)

    def _last_finish(self, records: Sequence[RequestRecord], started: float) -> float:
        finishes = [r.finished_at_s for r in records if r.finished_at_s is not None]
        return max(finishes, default=self._clock())
