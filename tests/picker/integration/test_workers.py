"""``python -m picker --workers 2`` behind real Envoy: both workers serve the one ext_proc port, metrics
add up across them, a killed worker costs at most the streams it held and is started again, and health
turns NOT_SERVING only while no worker is left."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import pytest
from gateway_harness import Gateway
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from infgw.launch.picker_process import PickerProcess

pytestmark = pytest.mark.integration

WORKER_ARGS = ("--secure-serving=false", "--workers", "2")
# One stream per connection: Envoy opens a connection per concurrent request, which the supervisor deals
# over the workers (connections, not streams).
ONE_STREAM_PER_CONNECTION = {"max_streams_per_connection": 1}
_WORKER_LINE = re.compile(r"\[worker (\d+)\]: worker serving: .* metrics=(\d+)")
_PIDS = re.compile(r"picker serving: .* workers=\d+ \(pids ([\d ]+)\)")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DEADLINE_S = 30.0


def log_of(picker: PickerProcess) -> str:
    return picker.child.log_path.read_text(errors="replace")


def worker_metrics_ports(picker: PickerProcess) -> dict[int, int]:
    """The latest private metrics port of each worker, from their own serving lines."""
    return {int(index): int(port) for index, port in _WORKER_LINE.findall(log_of(picker))}


def worker_pids(picker: PickerProcess) -> list[int]:
    match = _PIDS.search(log_of(picker))
    assert match, log_of(picker)
    return [int(pid) for pid in match.group(1).split()]


async def metric(url: str, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def requests_total(port: int) -> float:
    return await metric(f"http://127.0.0.1:{port}/metrics", "inference_objective_request_total")


async def readiness(picker: PickerProcess) -> int | None:
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{picker.health_port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="readiness"), timeout=1.0
            )
    except grpc.aio.AioRpcError:
        return None
    return reply.status


async def wait_until(predicate: Callable[[], Any], timeout_s: float = DEADLINE_S) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await asyncio.sleep(0.05)


async def burst(gateway: Gateway, count: int) -> list[int]:
    """``count`` requests at once (one connection each): their statuses."""
    results = await asyncio.gather(*(gateway.complete(f"prompt {index}") for index in range(count)))
    return [status for status, _ in results]


async def test_workers_share_the_port_all_serve_and_metrics_add_up(gateway: Callable[..., Any]) -> None:
    gw: Gateway = await gateway(picker_args=WORKER_ARGS, picker_connection=ONE_STREAM_PER_CONNECTION)
    assert gw.picker is not None
    sent = 0
    per_worker: dict[int, float] = {}
    async with asyncio.timeout(DEADLINE_S):
        # Each burst opens fresh connections; a few bursts make "all on one worker" vanishingly unlikely.
        while len(per_worker) < 2 or min(per_worker.values()) == 0:
            assert await burst(gw, 16) == [200] * 16
            sent += 16
            ports = worker_metrics_ports(gw.picker)
            assert sorted(ports) == [0, 1]
            per_worker = {index: await requests_total(port) for index, port in ports.items()}
    assert sum(per_worker.values()) == sent
    # The picker's own /metrics: one view, the workers' counts added up, with its worker gauge.
    public = f"http://127.0.0.1:{gw.picker.metrics_port}/metrics"
    assert await metric(public, "inference_objective_request_total") == sent
    assert await metric(public, "inference_extension_workers") == 2
    assert await metric(public, "inference_extension_worker_restarts_total") == 0


async def test_connections_are_dealt_evenly_over_the_workers(gateway: Callable[..., Any]) -> None:
    """Envoy's few long-lived connections split evenly, not as a hash of their addresses falls (with
    SO_REUSEPORT, 4 connections landed 3-1 or 4-0 on 2 workers 5 times in 8)."""
    gw: Gateway = await gateway(picker_args=WORKER_ARGS, picker_connection={"max_streams_per_connection": 4})
    assert gw.picker is not None
    assert await burst(gw, 16) == [200] * 16
    held = [established_connections(pid, gw.picker.grpc_port) for pid in worker_pids(gw.picker)]
    assert sum(held) >= 4 and abs(held[0] - held[1]) <= 1, held


KILL_NOTICE_S = 1.5


async def test_a_killed_worker_costs_only_its_streams_and_is_restarted(gateway: Callable[..., Any]) -> None:
    gw: Gateway = await gateway(picker_args=WORKER_ARGS, picker_connection=ONE_STREAM_PER_CONNECTION)
    assert gw.picker is not None
    victim = worker_pids(gw.picker)[0]
    outcomes: list[tuple[float, float, int]] = []  # (start, end, status)
    stop = asyncio.Event()

    async def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            status, _ = await gw.complete("load")
            outcomes.append((started, time.monotonic(), status))

    clients = [asyncio.create_task(client()) for _ in range(4)]
    try:
        await asyncio.sleep(1.0)
        idle_connections = established_connections(victim, gw.picker.grpc_port)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        gone_at = await exited(victim)
        await asyncio.sleep(2.0)
    finally:
        stop.set()
        await asyncio.gather(*clients)
    failed = [(start, end) for start, end, status in outcomes if status != 200]
    # Until the killed process has exited, the supervisor may still deal it new connections (its channel
    # breaks at exit): those streams are its too.
    in_flight_at_kill = [o for o in outcomes if o[0] <= gone_at and o[1] >= killed_at]
    # At most the streams the dead worker held (FailClose: Envoy answers those 503), never more: those in
    # flight, and those Envoy started later on a connection the worker had accepted (Envoy keeps spare
    # connections, one stream each here, and learns of a dead one when it uses it).
    assert len(failed) <= len(in_flight_at_kill) + idle_connections, (failed, in_flight_at_kill, idle_connections)
    # New streams go to the surviving worker at once: nothing that started after the kill failed, beyond
    # the moment Envoy needs to see the dead connections close (bounded generously: the box is shared, and
    # the first assertion already caps the failures at the streams the dead worker held).
    assert all(start <= killed_at + KILL_NOTICE_S for start, _ in failed), (killed_at, failed)
    assert sum(1 for start, _, status in outcomes if start > killed_at and status == 200) > 0
    # Reported and restarted.
    public = f"http://127.0.0.1:{gw.picker.metrics_port}/metrics"

    async def restarted() -> bool:
        return (
            await metric(public, "inference_extension_worker_restarts_total") == 1
            and await metric(public, "inference_extension_workers") == 2
        )

    await wait_until(restarted)
    assert re.search(rf"worker 0 \(pid {victim}\) exited with code -9", log_of(gw.picker))
    assert "worker 0 serving again" in log_of(gw.picker)
    assert await burst(gw, 8) == [200] * 8


def established_connections(pid: int, port: int) -> int:
    """How many TCP connections to local ``port`` process ``pid`` holds, established or waiting in its
    listening socket's accept queue (from /proc: its socket descriptors and the kernel's TCP tables)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
                if inode not in inodes or local_port != port:
                    continue
                if state == "01":  # ESTABLISHED
                    count += 1
                elif state == "0A":  # LISTEN: rx_queue is its accept backlog
                    count += int(fields[4].split(":")[0], 16)
    return count


async def exited(pid: int) -> float:
    """When ``pid`` has exited (its descriptors closed: gone, or a zombie its supervisor has not reaped)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                        return time.monotonic()
            except FileNotFoundError:
                return time.monotonic()
            await asyncio.sleep(0.001)


async def test_health_is_not_serving_only_when_every_worker_is_gone(gateway: Callable[..., Any]) -> None:
    gw: Gateway = await gateway(picker_args=WORKER_ARGS)
    picker = gw.picker
    assert picker is not None
    await wait_until(lambda: _is(picker, SERVING))
    first, second = worker_pids(picker)
    os.kill(first, signal.SIGKILL)
    # Until worker 0 is back, the other one keeps the picker ready.
    seen: set[int | None] = set()
    async with asyncio.timeout(DEADLINE_S):
        while "worker 0 serving again" not in log_of(picker):
            seen.add(await readiness(picker))
            await asyncio.sleep(0.02)
    assert seen == {SERVING}
    # Every worker gone: NOT_SERVING until one of the replacements is ready again.
    for pid in (second, *_current_pid_of_worker_0(picker, first)):
        os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: _is(picker, NOT_SERVING), timeout_s=5.0)
    await wait_until(lambda: _is(picker, SERVING))


async def _is(picker: PickerProcess, status: int) -> bool:
    return await readiness(picker) == status


def _current_pid_of_worker_0(picker: PickerProcess, old: int) -> list[int]:
    pids = re.findall(r"worker 0 serving again \(pid (\d+)\)", log_of(picker))
    assert pids, log_of(picker)
    return [int(pids[-1])]


async def test_workers_share_their_placements_with_each_other(gateway: Callable[..., Any]) -> None:
    """Every placement the precise scorer makes in one worker is applied in the other (picker.placements),
    whichever worker Envoy's connections reach, and each hears the other's in-flight counts."""
    from picker.profiles import profile_text

    args = (*WORKER_ARGS, "--config-text", profile_text("precise"))
    gw: Gateway = await gateway(picker_args=args, picker_connection=ONE_STREAM_PER_CONNECTION)
    assert gw.picker is not None
    # Prompts of several blocks (a placement is the blocks a request's server will store).
    context = "the shop's opening hours and the menu, with prices and allergens; " * 8
    per_worker: dict[int, float] = {}
    async with asyncio.timeout(DEADLINE_S):
        while len(per_worker) < 2 or min(per_worker.values()) == 0:
            replies = await asyncio.gather(*(gw.complete(f"{context} question {i}") for i in range(16)))
            assert [status for status, _ in replies] == [200] * 16
            per_worker = {
                index: await requests_total(port) for index, port in worker_metrics_ports(gw.picker).items()
            }
    ports = worker_metrics_ports(gw.picker)
    urls = {index: f"http://127.0.0.1:{port}/metrics" for index, port in ports.items()}
    name = "inference_extension_shared_placements_total"

    async def received_everything() -> bool:
        sent = {index: await metric(url, name, direction="sent") for index, url in urls.items()}
        received = {index: await metric(url, name, direction="received") for index, url in urls.items()}
        return sent == per_worker and received == {0: sent[1], 1: sent[0]}

    await wait_until(received_everything)

    async def each_hears_the_other() -> bool:  # their in-flight snapshots, every 0.5 s
        return [await metric(url, "inference_extension_sibling_deciders") for url in urls.values()] == [1, 1]

    await wait_until(each_hears_the_other)
    public = f"http://127.0.0.1:{gw.picker.metrics_port}/metrics"
    assert await metric(public, "inference_extension_shared_placement_errors_total") == 0
