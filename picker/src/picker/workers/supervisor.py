"""The picker with ``--workers N`` (N > 1): N worker processes share the ext_proc port, and this process
answers for all of them.

- ext_proc: this process listens on the port and deals each connection it accepts to the ready worker
  dealt the fewest (picker.workers.connection_dealer), which serves every stream on it; the port stays
  this picker's while workers restart.
- health: ``--grpc-health-port`` is served here: readiness is SERVING while any worker is ready (and,
  with leader election, this process holds the Lease); liveness always. Each worker also answers health
  on the shared ext_proc port for itself.
- metrics: ``--metrics-port`` is served here: each scrape collects every worker's metrics and merges
  them (picker.workers.merged_metrics), plus the supervisor's own worker gauges and restart counter.
- a worker that exits is logged, counted (``inference_extension_worker_restarts_total``) and started
  again (at once after a run of at least a minute, else with a doubling back-off up to 30 s).
- SIGTERM: readiness turns NOT_SERVING, the Lease is handed over, and every worker drains its open
  streams for the grace period at the same time.

Each worker keeps its own state: discovery and scraping, scheduling history, and the precise profile's
KV-event index, built from its own subscription to every server's events (identical in every worker,
since every subscriber receives every event). What each places (speculative entries, routing history, the
placement footprint) it shares with its siblings over abstract Unix datagram sockets named here
(picker.placements; Linux), so a new prefix's next request follows it whichever worker gets it.
docs/picker.md ("Worker processes") has the measurements.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Mapping

import aiohttp
from prometheus_client import CollectorRegistry

from picker.app import Leadership
from picker.config.errors import ConfigError, ConfigIssue
from picker.fast_metrics import FastCounter, FastGauge
from picker.framework.clock import Clock
from picker.options import PickerOptions
from picker.readiness_line import PickerReadinessLine
from picker.server.grpc_server import LISTEN_BACKLOG, GrpcServer, bound_socket
from picker.server.health import PickerHealth
from picker.server.metrics_endpoint import MetricsEndpoint
from picker.server.until_signalled import serve_until_signalled
from picker.workers.connection_dealer import ConnectionDealer
from picker.workers.merged_metrics import WorkerMetricsCollector
from picker.workers.start_error import WorkerStartError
from picker.workers.worker_process import WorkerProcess

logger = logging.getLogger(__name__)

# A worker that ran this long before exiting is restarted at once; one that dies sooner backs off.
STABLE_RUN_S = 60.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
# How long a worker's /metrics may take before a scrape reports the others without it.
WORKER_SCRAPE_TIMEOUT_S = 2.0
# After the grace period, how long workers get to exit before they are killed.
STOP_MARGIN_S = 5.0


def check_worker_config(options: PickerOptions, count: int) -> None:
    """What workers cannot share, refused before any starts (exit code 2)."""
    from picker.plugins.kv_event_prefix_index import kv_event_parameters
    from picker.preflight import check_config
    from picker.runtime import load_scheduling_config

    if options.placement_port:
        raise ConfigError(
            [
                ConfigIssue(
                    "--placement-port",
                    f"sharing placements with peer replicas is not supported with --workers {count} yet (each "
                    "worker shares with its siblings already): run --workers 1 per replica, or drop "
                    "--placement-port and --placement-peers",
                )
            ]
        )
    config = load_scheduling_config(options)
    check_config(config)
    events = kv_event_parameters(config)
    if events is not None and events.kv_events_config.zmq_endpoint:
        raise ConfigError(
            [
                ConfigIssue(
                    "plugins[precise-prefix-cache-scorer].parameters.kvEventsConfig.zmqEndpoint",
                    f"one socket cannot be bound by {count} worker processes: use discoverPods (every "
                    "worker dials every server's publisher), or --workers 1",
                )
            ]
        )


def listen_on_port(host: str, port: int) -> socket.socket:
    """The ext_proc port, bound and listening: its connections are dealt to the workers. A port another
    program already listens on is refused, as without workers."""
    listening = bound_socket(host, port, "--grpc-port")
    listening.listen(LISTEN_BACKLOG)
    return listening


class WorkerSupervisor:
    """Starts, watches and stops the workers; serves health and metrics for the whole picker."""

    def __init__(
        self,
        options: PickerOptions,
        count: int,
        clock: Clock,
        leadership: Leadership | None = None,
    ) -> None:
        self._options = options
        self._count = count
        self._clock = clock
        self._leadership = leadership
        self._workers: list[WorkerProcess] = []
        self._stopping = False
        # Names this supervisor's workers' placement sockets (abstract Unix addresses: Linux only).
        self._placements_token = (
            f"{os.getpid()}-{secrets.token_hex(4)}" if sys.platform.startswith("linux") else None
        )
        self.health = (
            PickerHealth(self._any_worker_ready, clock, is_leader=lambda: leadership.is_leader)
            if leadership is not None
            else PickerHealth(self._any_worker_ready, clock)
        )
        self._health_server = GrpcServer([self.health.servicer])
        self.registry = CollectorRegistry(auto_describe=True)
        self._worker_metrics = WorkerMetricsCollector()
        self.registry.register(self._worker_metrics)
        self.restarts = FastCounter(
            "inference_extension_worker_restarts",
            "Worker processes that exited and were started again.",
            registry=self.registry,
        )
        self.workers_serving = FastGauge(
            "inference_extension_workers", "Worker processes serving ext_proc.", registry=self.registry
        )
        self._metrics = MetricsEndpoint(
            self.registry, options.metrics_auth_token_file, refresh=self._collect_worker_metrics
        )
        self._session: aiohttp.ClientSession | None = None
        self._listening: socket.socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._election: asyncio.Task[None] | None = None
        self._dealing: asyncio.Task[None] | None = None
        self.grpc_port = 0
        self.grpc_health_port = 0
        self.metrics_port = 0

    @property
    def workers(self) -> tuple[WorkerProcess, ...]:
        return tuple(self._workers)

    def _any_worker_ready(self) -> bool:
        return any(worker.ready for worker in self._workers)

    def _worker_options_json(self, index: int) -> str:
        # Health and metrics are this process's; the Lease too. Each worker draws from its own seed.
        return self._options.model_copy(
            update={
                "workers": 1,
                "grpc_port": self.grpc_port,
                "metrics_endpoint_auth": False,
                "metrics_auth_token_file": None,
                "ha_enable_leader_election": False,
                "seed": self._options.seed + index,
            }
        ).model_dump_json()

    def _new_worker(self, index: int) -> WorkerProcess:
        siblings = (self._count, self._placements_token) if self._placements_token is not None else None
        return WorkerProcess(index, self._worker_options_json(index), self._clock.now(), siblings)

    async def start(self) -> None:
        """Reserve the ext_proc port, bind health and metrics, start every worker and wait until each
        serves. Raises PortBindError or WorkerStartError; nothing is left running then."""
        try:
            await self._start()
        except BaseException:
            await self.stop(grace_s=0)
            raise

    async def _start(self) -> None:
        options = self._options
        self._listening = listen_on_port(options.bind_address, options.grpc_port)
        self.grpc_port = self._listening.getsockname()[1]
        self.grpc_health_port = await self._health_server.start(
            options.bind_address, options.grpc_health_port, "--grpc-health-port"
        )
        self.metrics_port = await self._metrics.start(options.bind_address, options.metrics_port)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WORKER_SCRAPE_TIMEOUT_S))
        self._workers = [self._new_worker(index) for index in range(self._count)]
        # Concurrently: Python start-up is most of a worker's start.
        await asyncio.gather(*(worker.start() for worker in self._workers))
        self._tasks = [
            asyncio.create_task(self._keep(index), name=f"picker-worker-{index}")
            for index in range(self._count)
        ]
        dealer = ConnectionDealer(self._listening, lambda: self._workers)
        self._dealing = asyncio.create_task(dealer.run(), name="picker-connection-dealer")
        self._tasks.append(asyncio.create_task(self.health.track_readiness(), name="picker-health"))
        if self._leadership is not None:
            self._election = asyncio.create_task(self._leadership.run(), name="picker-leader-election")
        # The readiness line (the picker's public ports), as one picker process prints it.
        PickerReadinessLine.serving(options, self.grpc_port, self.grpc_health_port, self.metrics_port).announce()
        logger.info(
            "picker serving: ext_proc=%s:%d tls=%s health=%d metrics=%d workers=%d (pids %s)",
            options.bind_address,
            self.grpc_port,
            str(options.secure_serving).lower(),
            self.grpc_health_port,
            self.metrics_port,
            self._count,
            " ".join(str(worker.pid) for worker in self._workers),
        )

    async def _keep(self, index: int) -> None:
        """Follow worker ``index``; whenever it exits, report it and start another in its place."""
        consecutive_failures = 0
        while True:
            worker = self._workers[index]
            await worker.follow()
            code = await worker.wait()
            if self._stopping:
                return
            self.restarts.inc()
            ran_s = self._clock.now() - worker.started_at
            consecutive_failures = 0 if ran_s >= STABLE_RUN_S else consecutive_failures + 1
            delay_s = (
                0.0
                if consecutive_failures <= 1
                else min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (consecutive_failures - 2))
            )
            logger.error(
                "worker %d (pid %d) exited with code %d after %.1f s; starting another in %.1f s",
                index, worker.pid, code, ran_s, delay_s,
            )  # fmt: skip
            await self._clock.sleep(delay_s)
            if self._stopping:
                return
            replacement = self._new_worker(index)
            self._workers[index] = replacement
            try:
                await replacement.start()
            except WorkerStartError as error:
                logger.error("%s", error)
                continue
            logger.info("worker %d serving again (pid %d)", index, replacement.pid)

    async def _collect_worker_metrics(self) -> None:
        serving = [worker for worker in self._workers if worker.serving]
        self.workers_serving.set(len(serving))
        texts = await asyncio.gather(*(self._scrape(worker) for worker in serving))
        self._worker_metrics.update([text for text in texts if text is not None])

    async def _scrape(self, worker: WorkerProcess) -> str | None:
        assert self._session is not None
        try:
            async with self._session.get(f"http://127.0.0.1:{worker.metrics_port}/metrics") as response:
                response.raise_for_status()
                return await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            # Typically a worker that just exited: the scrape reports the others.
            logger.warning("metrics of worker %d unavailable this scrape: %s", worker.index, error)
            return None

    async def stop(self, grace_s: float | None = None) -> None:
        """NOT_SERVING first, the Lease handed over, then every worker drains at once (SIGTERM, their own
        grace period); a worker still running ``STOP_MARGIN_S`` after that is killed."""
        grace = self._options.shutdown_grace_period_s if grace_s is None else grace_s
        self.health.shut_down()
        self._stopping = True
        if self._dealing is not None:  # no new connections for workers that are draining
            self._dealing.cancel()
            await asyncio.gather(self._dealing, return_exceptions=True)
            self._dealing = None
        if self._election is not None:
            self._election.cancel()
            await asyncio.gather(self._election, return_exceptions=True)
            self._election = None
        for worker in self._workers:
            worker.signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
        running = [worker for worker in self._workers if worker.pid]
        try:
            async with asyncio.timeout(grace + STOP_MARGIN_S):
                await asyncio.gather(*(worker.wait() for worker in running))
        except TimeoutError:
            logger.warning("workers still running %.1f s after the grace period; killing them", STOP_MARGIN_S)
            for worker in running:
                worker.signal(signal.SIGKILL)
            await asyncio.gather(*(worker.wait() for worker in running))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._health_server.stop(None)
        await self._metrics.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._listening is not None:
            self._listening.close()
            self._listening = None
        logger.info("picker stopped")

    def essential_tasks(self) -> list[asyncio.Task[None]]:
        """The election (workers that exit are restarted, not fatal)."""
        return [self._election] if self._election is not None else []

    async def run_until_signalled(self) -> None:
        """Serve until SIGTERM or SIGINT (or the election loop fails), then stop gracefully."""
        await serve_until_signalled(self, self._options.shutdown_grace_period_s)


async def serve_with_workers(
    options: PickerOptions, count: int, clock: Clock, environ: Mapping[str, str]
) -> None:
    """``python -m picker --workers N``: check what workers share, then supervise them until signalled."""
    check_worker_config(options, count)
    if not options.ha_enable_leader_election:
        await WorkerSupervisor(options, count, clock).run_until_signalled()
        return
    from picker.leadership.process_election import open_leader_elector

    async with open_leader_elector(options, clock, environ) as elector:
        logger.info("leader election on as %s; reporting NOT_SERVING until elected", elector.identity)
        await WorkerSupervisor(options, count, clock, elector).run_until_signalled()
