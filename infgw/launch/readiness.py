"""Readiness waits for a child process: each polls until its check passes, fails fast with the child's log
tail if the child exits, and gives up after a deadline naming what it waited for. The check that a
program is up is its readiness line (``ready_line``); the others check what it serves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel

from infgw.launch.child_process import ChildProcess, LaunchError

if TYPE_CHECKING:
    from infgw.launch.envoy_process import EnvoyProcess

POLL_INTERVAL_S = 0.1

_T = TypeVar("_T")
_Line = TypeVar("_Line", bound=BaseModel)


class NotReadyError(LaunchError):
    """A child did not become ready in time (it is still running)."""

    def __init__(self, child: ChildProcess, what: str, timeout_s: float, detail: str = "") -> None:
        message = f"{child.name}: {what} not ready after {timeout_s:g} s; last lines of {child.log_path}:\n"
        message += child.log_tail()
        super().__init__(f"{message}\n{detail}" if detail else message)


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
            raise NotReadyError(child, what, timeout_s)
        await asyncio.sleep(POLL_INTERVAL_S)


def poll_blocking(child: ChildProcess, what: str, timeout_s: float, attempt: Callable[[], _T | None]) -> _T:
    """:func:`_poll` for a caller without an event loop."""
    deadline = time.monotonic() + timeout_s
    while True:
        child.check_running()
        result = attempt()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise NotReadyError(child, what, timeout_s)
        time.sleep(POLL_INTERVAL_S)


async def wait_ready_line(child: ChildProcess, line_model: type[_Line], timeout_s: float) -> _Line:
    """The child's readiness line (``picker.readiness_line``, ``sim.readiness_line``), once printed."""

    async def attempt() -> _Line | None:
        return child.ready_line(line_model)

    return await _poll(child, "its readiness line", timeout_s, attempt)


def wait_ready_line_blocking(child: ChildProcess, line_model: type[_Line], timeout_s: float) -> _Line:
    return poll_blocking(child, "its readiness line", timeout_s, lambda: child.ready_line(line_model))


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


async def wait_envoy_ready(envoy: EnvoyProcess, timeout_s: float) -> None:
    """Until Envoy's admin /ready says LIVE (``envoy.admin_url`` and ``envoy.listener_port`` are then set)."""

    async def attempt() -> bool | None:
        return True if await asyncio.to_thread(envoy.check_ready) else None

    await _poll(envoy.child, "Envoy /ready", timeout_s, attempt)


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

    what = f"a completion for {model!r} through {gateway_url}"
    try:
        await _poll(child, what, timeout_s, attempt)
    except NotReadyError:
        detail = f"last answer through the gateway: {last_answer[0]}"
        raise NotReadyError(child, what, timeout_s, detail) from None
