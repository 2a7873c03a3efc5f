"""``grpc.health.v1.Health`` (Check and Watch) on grpclib, over a status per service name.

The messages come from grpcio-health-checking's ``health_pb2`` rather than grpclib's own copy: protobuf's
default pool holds ``grpc.health.v1`` once per process, and that module is the one health clients in the
same process (``infgw local``, the tests) import; loading both raises "duplicate symbol".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from grpc_health.v1 import health_pb2
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

# A grpc.health.v1 HealthCheckResponse.ServingStatus value (the generated module carries no types).
ServingStatus = int
SERVING: ServingStatus = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: ServingStatus = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN: ServingStatus = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthService:
    """Statuses set by the owner; Check answers NOT_FOUND for an unknown name, Watch streams changes.

    After ``enter_graceful_shutdown`` every service is NOT_SERVING and later ``set`` calls are ignored,
    as in grpcio's health servicer, so a late readiness flip cannot re-advertise a stopping server.
    """

    def __init__(self) -> None:
        self._statuses: dict[str, ServingStatus] = {}
        self._changed = asyncio.Event()
        self._shutting_down = False

    def __mapping__(self) -> Mapping[str, Handler]:
        request, response = health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
        return {
            "/grpc.health.v1.Health/Check": Handler(self.check, Cardinality.UNARY_UNARY, request, response),
            "/grpc.health.v1.Health/Watch": Handler(self.watch, Cardinality.UNARY_STREAM, request, response),
        }

    def status(self, service: str) -> ServingStatus | None:
        return self._statuses.get(service)

    def set(self, service: str, status: ServingStatus) -> None:
        if self._shutting_down:
            return
        self._update({service: status})

    def enter_graceful_shutdown(self) -> None:
        self._update(dict.fromkeys(self._statuses, NOT_SERVING))
        self._shutting_down = True

    def _update(self, statuses: dict[str, ServingStatus]) -> None:
        self._statuses.update(statuses)
        # Wake every watcher once: each compares with what it last sent.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def check(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None  # grpclib guarantees one message on a unary call
        status = self._statuses.get(request.service)
        if status is None:
            raise GRPCError(Status.NOT_FOUND, f"unknown service {request.service!r}")
        await stream.send_message(health_pb2.HealthCheckResponse(status=status))

    async def watch(self, stream: Stream[Any, Any]) -> None:
        """The current status, then every change, until the client cancels or shutdown begins (the final
        NOT_SERVING is sent first): an open watch must not hold up the server's drain."""
        request = await stream.recv_message()
        assert request is not None
        sent: ServingStatus | None = None
        while True:
            changed = self._changed
            status = self._statuses.get(request.service, SERVICE_UNKNOWN)
            if status != sent:
                await stream.send_message(health_pb2.HealthCheckResponse(status=status))
                sent = status
            if self._shutting_down:
                return
            await changed.wait()
