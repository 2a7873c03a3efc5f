"""grpc.health.v1 on grpclib: Check, Watch and graceful shutdown, through a grpcio health client."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from picker.server.grpc_server import GrpcServer
from picker.server.health_service import NOT_SERVING, SERVING, HealthService

TIMEOUT_S = 5.0


@contextlib.asynccontextmanager
async def served(health: HealthService):
    server = GrpcServer([health])
    port = await server.start("127.0.0.1", 0, "--grpc-health-port")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield health_pb2_grpc.HealthStub(channel)
    finally:
        await server.stop(grace_s=None)


async def check(stub, service: str) -> int:
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S)
    return response.status


async def test_check_answers_the_set_status_and_not_found_for_an_unknown_name():
    health = HealthService()
    health.set("readiness", NOT_SERVING)
    health.set("liveness", SERVING)
    async with served(health) as stub:
        assert await check(stub, "readiness") == NOT_SERVING
        assert await check(stub, "liveness") == SERVING
        health.set("readiness", SERVING)
        assert await check(stub, "readiness") == SERVING
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await check(stub, "no-such-service")
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


async def test_watch_streams_each_change_and_ends_after_shutdown():
    health = HealthService()
    health.set("readiness", NOT_SERVING)
    async with served(health) as stub:
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="readiness"), timeout=TIMEOUT_S)
        assert (await watch.read()).status == NOT_SERVING
        health.set("liveness", SERVING)  # another service: no message for this watcher
        health.set("readiness", SERVING)
        assert (await watch.read()).status == SERVING
        health.enter_graceful_shutdown()
        assert (await watch.read()).status == NOT_SERVING
        assert await watch.read() == grpc.aio.EOF
        assert await watch.code() is grpc.StatusCode.OK


async def test_watching_an_unknown_service_says_so_until_it_is_registered():
    health = HealthService()
    async with served(health) as stub:
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="later"), timeout=TIMEOUT_S)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        health.set("later", SERVING)
        assert (await watch.read()).status == SERVING
        watch.cancel()


async def test_after_shutdown_everything_is_not_serving_and_later_sets_are_ignored():
    health = HealthService()
    health.set("liveness", SERVING)
    health.set("readiness", SERVING)
    health.enter_graceful_shutdown()
    health.set("readiness", SERVING)  # a late readiness flip must not re-advertise a stopping server
    async with served(health) as stub:
        statuses = await asyncio.gather(check(stub, "liveness"), check(stub, "readiness"))
    assert statuses == [NOT_SERVING, NOT_SERVING]
