"""The picker process: binds the ext_proc, health and metrics ports around a decision runtime, and shuts
down gracefully (health NOT_SERVING, open streams drained, background loops stopped)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry

from picker.framework.clock import Clock
from picker.options import PickerOptions
from picker.readiness_line import PickerReadinessLine
from picker.request_director import RequestDirector
from picker.server.ext_proc import ExternalProcessorService
from picker.server.grpc_server import GrpcServer, PortBindError
from picker.server.health import PickerHealth
from picker.server.metrics_endpoint import MetricsEndpoint
from picker.server.tls import server_ssl_context
from picker.server.until_signalled import describe_error, serve_until_signalled
from picker.workers.dealt_connections import serve_dealt_connections

__all__ = ["PickerApp", "PickerRuntime", "PortBindError"]

logger = logging.getLogger(__name__)

# A worker's own health and metrics ports: reached by its supervisor only, never from outside the pod.
WORKER_SIDE_ADDRESS = "127.0.0.1"


class PickerRuntime(Protocol):
    """The decision side the process serves: a director, its metrics, and its background loops."""

    @property
    def director(self) -> RequestDirector: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    def is_synced(self) -> bool:
        """True once the endpoint source has delivered the pool at least once."""
        ...

    async def run(self) -> None:
        """Discovery, scraping and periodic metric flushing, until cancelled."""
        ...


class Leadership(Protocol):
    """Leader election: whether this replica may serve, and the loop that keeps it so."""

    @property
    def is_leader(self) -> bool: ...

    async def run(self) -> None:
        """Compete for and hold leadership until cancelled; cancelling hands leadership over."""
        ...


class PickerApp:
    """Owns the three servers and the runtime's (and elector's) background tasks for one process lifetime.

    With a ``leadership``, only the leader reports ready; followers keep the runtime's discovery and
    scraping running (a warm standby) and still answer ext_proc streams that reach them.
    """

    def __init__(
        self,
        options: PickerOptions,
        runtime: PickerRuntime,
        clock: Clock,
        leadership: Leadership | None = None,
        *,
        dealt_connections: socket.socket | None = None,
    ) -> None:
        """``dealt_connections``: this is one of several worker processes (picker.workers), served the
        ext_proc connections its supervisor accepts and passes over this Unix socket (it binds no ext_proc
        port: ``grpc_port`` stays 0); its health and metrics ports are free loopback ports, for the
        supervisor only."""
        self._options = options
        self._dealt_connections = dealt_connections
        self._worker = dealt_connections is not None
        self._runtime = runtime
        self._clock = clock
        self._leadership = leadership
        self.health = (
            PickerHealth(runtime.is_synced, clock, is_leader=lambda: leadership.is_leader)
            if leadership is not None
            else PickerHealth(runtime.is_synced, clock)
        )
        # Health on the ext_proc port too: gateways can health-check the cluster they already talk to.
        self._ext_proc_server = GrpcServer([ExternalProcessorService(runtime.director), self.health.servicer])
        self._health_server = GrpcServer([self.health.servicer])
        self._metrics = MetricsEndpoint(runtime.registry, options.metrics_auth_token_file)
        self._tasks: list[asyncio.Task[None]] = []
        self._election: asyncio.Task[None] | None = None
        self.runtime_finished: asyncio.Task[None] | None = None
        self.grpc_port = 0
        self.grpc_health_port = 0
        self.metrics_port = 0

    async def start(self) -> None:
        """Bind every port (0 = OS-chosen; read the ``*_port`` attributes back) and start the loops.

        Raises:
            PortBindError: a port is taken or the address is not local; nothing is left running.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop(grace_s=0)
            raise

    async def _start(self) -> None:
        options = self._options
        ssl_context = (
            server_ssl_context(options.cert_path, datetime.datetime.now(datetime.UTC))
            if options.secure_serving
            else None
        )
        side_address, health_port, metrics_port = (
            (WORKER_SIDE_ADDRESS, 0, 0)
            if self._worker
            else (options.bind_address, options.grpc_health_port, options.metrics_port)
        )
        if self._worker:  # its supervisor owns the ext_proc port and deals it the connections
            self._ext_proc_server.start_unbound(ssl_context)
        else:
            self.grpc_port = await self._ext_proc_server.start(
                side_address, options.grpc_port, "--grpc-port", ssl_context
            )
        self.grpc_health_port = await self._health_server.start(
            side_address, health_port, "--grpc-health-port"
        )
        self.metrics_port = await self._metrics.start(side_address, metrics_port)
        self._tasks = [
            asyncio.create_task(self._runtime.run(), name="picker-runtime"),
            asyncio.create_task(self.health.track_readiness(), name="picker-health"),
        ]
        self.runtime_finished = self._tasks[0]
        if self._dealt_connections is not None:
            self._tasks.append(asyncio.create_task(
                serve_dealt_connections(self._dealt_connections, self._ext_proc_server), name="picker-dealt-connections"
            ))  # fmt: skip
        if self._leadership is not None:
            self._election = asyncio.create_task(self._leadership.run(), name="picker-leader-election")
            self._tasks.append(self._election)
        if self._worker:
            # A worker's health and metrics ports are private: its supervisor announces the picker.
            logger.info(
                "worker serving: ext_proc on the connections dealt to it; health=%d metrics=%d on %s",
                self.grpc_health_port,
                self.metrics_port,
                WORKER_SIDE_ADDRESS,
            )
            return
        # The readiness line: whatever started the picker on port 0 reads the ports from it.
        PickerReadinessLine.serving(options, self.grpc_port, self.grpc_health_port, self.metrics_port).announce()

    async def stop(self, grace_s: float | None = None) -> None:
        """Graceful: health goes NOT_SERVING first, open streams get ``grace_s`` to finish, then loops stop."""
        grace = self._options.shutdown_grace_period_s if grace_s is None else grace_s
        self.health.shut_down()
        if self._election is not None:
            # Hand the Lease over before draining, so a follower turns ready while this one drains.
            self._election.cancel()
            await asyncio.gather(self._election, return_exceptions=True)
        await self._ext_proc_server.stop(grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as error:
                logger.error("background task %s had failed: %s", task.get_name(), describe_error(error))
        self._tasks = []
        self._election = None
        await self._health_server.stop(None)
        await self._metrics.stop()
        logger.info("picker stopped")

    def essential_tasks(self) -> list[asyncio.Task[None]]:
        """The runtime's loops and the election: neither returns on its own while the picker is healthy."""
        tasks = [self.runtime_finished] if self.runtime_finished is not None else []
        return tasks + ([self._election] if self._election is not None else [])

    async def run_until_signalled(self, on_serving: Callable[[PickerApp], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully; ``on_serving`` runs once every port is bound."""
        await serve_until_signalled(
            self,
            self._options.shutdown_grace_period_s,
            None if on_serving is None else lambda: on_serving(self),
        )
