"""Readiness waits for the local gateway's children: each polls until its check passes, fails fast with
the child's log tail if the child exits, and gives up after a deadline naming what it waited for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from infgw.local.child_process import ChildProcess

POLL_INTERVAL_S = 0.1

_T = TypeVar("_T")


class NotReadyError(RuntimeError):
    """A child did not become ready in time (it is still running)."""


async def _poll(
    child: ChildProcess, what: str, timeout_s: float, attempt: Callable[[], Awaitable[_T | None]]
) -> _T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        child.check_running()
        result = await attempt()
        if result is not None:
            return result
        if loop.time() >= deadline:
            raise NotReadyError(
                f"{child.name}: {what} not ready after {timeout_s:g} s; last lines of {child.log_path}:\n"
                f"{child.log_tail()}"
            )
        await asyncio.sleep(POLL_INTERVAL_S)


async def wait_http_ok(
    session: aiohttp.ClientSession, child: ChildProcess, url: str, timeout_s: float
) -> None:
    async def attempt() -> bool | None:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                return True if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None

    await _poll(child, f"GET {url}", timeout_s, attempt)


async def wait_grpc_serving(child: ChildProcess, address: str, timeout_s: float, service: str = "") -> None:
    """grpc.health.v1 Check until SERVING; the picker reports SERVING once its endpoints are loaded."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def attempt() -> bool | None:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
            except grpc.aio.AioRpcError:
                return None
            return True if reply.status == health_pb2.HealthCheckResponse.SERVING else None

        await _poll(child, f"gRPC health on {address}", timeout_s, attempt)


async def wait_envoy_ready(
    session: aiohttp.ClientSession, child: ChildProcess, admin_address_path: Path, timeout_s: float
) -> tuple[str, int]:
    """Envoy's admin URL and the port its (only) listener bound, once /ready says LIVE."""

    async def attempt() -> tuple[str, int] | None:
        address = admin_address_path.read_text().strip() if admin_address_path.exists() else ""
        if not address:
            return None
        admin_url = f"http://{address}"
        try:
            async with session.get(f"{admin_url}/ready", timeout=aiohttp.ClientTimeout(total=2)) as response:
                if (await response.text()).strip() != "LIVE":
                    return None
            async with session.get(f"{admin_url}/listeners?format=json") as response:
                listeners = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        address_info = listeners["listener_statuses"][0]["local_address"]["socket_address"]
        return admin_url, int(address_info["port_value"])

    return await _poll(child, "Envoy /ready", timeout_s, attempt)


async def wait_routable(
    session: aiohttp.ClientSession, child: ChildProcess, gateway_url: str, model: str, timeout_s: float
) -> None:
    """A one-token completion for ``model`` through Envoy until it answers 200.

    The picker answers 503 until it has scraped its replicas once; this proves the whole path
    (listener, body routing, ext_proc, override-host, replica) per pool, not only that each process is up.
    """
    body = {"model": model, "prompt": "ready?", "max_tokens": 1}
    last_answer = ["no answer yet"]

    async def attempt() -> bool | None:
        try:
            async with session.post(
                f"{gateway_url}/v1/completions", json=body, timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                text = await response.text()
                if response.status == 200:
                    return True
                last_answer[0] = f"HTTP {response.status}: {text[:300]}"
        except (aiohttp.ClientError, TimeoutError) as error:
            last_answer[0] = repr(error)
        return None

    try:
        await _poll(child, f"a completion for {model!r} through {gateway_url}", timeout_s, attempt)
    except NotReadyError as error:
        raise NotReadyError(f"{error}\nlast answer through the gateway: {last_answer[0]}") from None
