"""Two real ``python -m picker`` replicas with leader election against the fake Lease API: exactly one
reports ready; SIGKILL the leader and the other takes over once the lease lapses; SIGTERM the leader and
it hands the lease over at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from gateway_harness import IdentityUpstream, harness_picker
from grpc_health.v1 import health_pb2, health_pb2_grpc

from infgw.launch.picker_process import PickerProcess
from infgw.local.lease_api import FakeLeaseApi

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
LEASE_NAME = "epp-ns-pool.llm-d.ai"
# The bound on top of the protocol's own delay: process scheduling and the 50 ms health poll on a busy box.
SLACK_S = 4.0


async def health(picker: PickerProcess, service: str) -> int | None:
    """The replica's status for ``service``, or None if it does not answer (killed)."""
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{picker.health_port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1.0
            )
    except grpc.aio.AioRpcError:
        return None
    return reply.status


async def serving(pickers: dict[str, PickerProcess]) -> list[str]:
    return [name for name, picker in pickers.items() if await health(picker, "readiness") == SERVING]


async def wait_for_one_leader(pickers: dict[str, PickerProcess], timeout_s: float) -> str:
    async with asyncio.timeout(timeout_s):
        while len(leaders := await serving(pickers)) != 1:
            await asyncio.sleep(0.05)
    return leaders[0]


@contextlib.asynccontextmanager
async def two_pickers(
    work_dir: Path, lease_s: float, renew_s: float, retry_s: float, *extra_args: str
) -> AsyncIterator[tuple[FakeLeaseApi, dict[str, PickerProcess]]]:
    async with FakeLeaseApi() as api, contextlib.AsyncExitStack() as cleanup:
        upstream = IdentityUpstream("replica", host="127.0.0.11")
        await upstream.start()
        cleanup.push_async_callback(upstream.stop)
        kubeconfig = api.write_kubeconfig(work_dir / "kubeconfig", namespace="ns")
        pickers = {}
        for name in ("picker-a", "picker-b"):
            (work_dir / name).mkdir()
            picker = harness_picker(
                work_dir / name, [upstream], {},
                "--pool-name", "pool", "--pool-namespace", "ns", "--secure-serving=false",
                "--ha-enable-leader-election", "--kubeconfig", str(kubeconfig),
                "--ha-lease-duration", f"{lease_s}s", "--ha-renew-deadline", f"{renew_s}s",
                "--ha-retry-period", f"{retry_s}s", *extra_args,
                env=os.environ | {"POD_NAME": name},
            )  # fmt: skip
            pickers[name] = picker
            cleanup.push_async_callback(picker.child.stop)
            picker.start()
        await asyncio.gather(*(picker.wait_ready() for picker in pickers.values()))
        yield api, pickers


async def test_one_replica_serves_and_a_follower_takes_over_when_the_leader_is_killed(tmp_path) -> None:
    lease_s, renew_s, retry_s = 3.0, 2.0, 0.5
    async with two_pickers(tmp_path, lease_s, renew_s, retry_s) as (api, pickers):
        leader = await wait_for_one_leader(pickers, 20)
        for _ in range(10):  # and it stays exactly one
            assert await serving(pickers) == [leader]
            await asyncio.sleep(0.1)
        (follower,) = set(pickers) - {leader}
        assert await health(pickers[follower], "") == NOT_SERVING
        assert await health(pickers[follower], "envoy.service.ext_proc.v3.ExternalProcessor") == NOT_SERVING
        assert await health(pickers[follower], "liveness") == SERVING
        lease = api.lease("ns", LEASE_NAME)
        assert lease is not None and lease["spec"]["holderIdentity"] == leader

        pickers[leader].child.kill()
        killed_at = time.monotonic()
        assert await wait_for_one_leader(pickers, lease_s + 2.2 * retry_s + SLACK_S) == follower
        takeover_s = time.monotonic() - killed_at
        lease = api.lease("ns", LEASE_NAME)
        assert lease is not None and lease["spec"]["holderIdentity"] == follower
        assert lease["spec"]["leaseTransitions"] == 1
        # The last renewal was at most a renew deadline before the kill: no takeover before the lease lapsed.
        assert takeover_s >= lease_s - renew_s, f"took over {takeover_s:.1f} s after the kill"


async def test_a_terminated_leader_hands_over_at_once(tmp_path) -> None:
    lease_s, retry_s = 20.0, 0.5
    async with two_pickers(tmp_path, lease_s, 10.0, retry_s) as (api, pickers):
        leader = await wait_for_one_leader(pickers, 20)
        (follower,) = set(pickers) - {leader}
        stopping = asyncio.create_task(pickers[leader].child.stop())
        terminated_at = time.monotonic()
        assert await wait_for_one_leader({follower: pickers[follower]}, 2.2 * retry_s + SLACK_S) == follower
        assert time.monotonic() - terminated_at < lease_s / 2
        assert await stopping == 0
        lease = api.lease("ns", LEASE_NAME)
        assert lease is not None and lease["spec"]["holderIdentity"] == follower


async def test_with_workers_only_the_supervisor_holds_the_lease_and_hands_it_over(tmp_path) -> None:
    """Two pickers of two workers each: one Lease holder (the supervisor's pod name), one ready picker;
    SIGTERM to it hands the Lease to the other."""
    lease_s, retry_s = 20.0, 0.5
    async with two_pickers(tmp_path, lease_s, 10.0, retry_s, "--workers", "2") as (api, pickers):
        leader = await wait_for_one_leader(pickers, 30)
        for _ in range(10):
            assert await serving(pickers) == [leader]
            await asyncio.sleep(0.1)
        lease = api.lease("ns", LEASE_NAME)
        assert lease is not None and lease["spec"]["holderIdentity"] == leader
        assert "workers=2" in pickers[leader].child.log_path.read_text(errors="replace")
        (follower,) = set(pickers) - {leader}
        await pickers[leader].child.stop()
        assert await wait_for_one_leader({follower: pickers[follower]}, 2.2 * retry_s + SLACK_S) == follower
