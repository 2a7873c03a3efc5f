"""The running local gateway: simulated replicas, one picker per pool and Envoy, started from a LocalPlan
in dependency order, each waited on until healthy, all stopped together."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from picker.plugins.precise_prefix_cache_scorer import precise_parameters
from picker.preflight import check_command_line, check_config_text
from pydantic import BaseModel, ConfigDict, Field

from infgw.envoy import find_envoy_binary
from infgw.local.child_process import ChildProcess
from infgw.local.container_args import (
    materialise_mounts,
    override_planned_flags,
    with_discovery_ports,
    with_flag,
    with_kv_event_ports,
)
from infgw.local.envoy_config import PoolAddresses, build_local_bootstrap
from infgw.local.lease_api import FakeLeaseApi
from infgw.local.plan import LocalPlan, PoolPlan
from infgw.local.ports import ensure_port_free, free_port, free_port_block, start_retrying_port_races
from infgw.local.readiness import (
    wait_envoy_ready,
    wait_grpc_serving,
    wait_http_ok,
    wait_routable,
)
from infgw.local.started_on_enter import StartedOnEnter
from infgw.local.supervisor import ProcessSupervisor
from infgw.plan.pool_wiring import flag_value

LOOPBACK = "127.0.0.1"
# The picker's gRPC health service that reports SERVING whenever the process runs (leader or not).
LIVENESS_SERVICE = "liveness"


class GatewayOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int = Field(0, ge=0, le=65_535, description="Envoy's listener port; 0 = a free one.")
    ready_timeout_s: float = Field(60.0, gt=0)
    access_log: bool = False
    picker_log_level: str = "warning"
    envoy_log_level: str = "warning"


@dataclass(frozen=True)
class RunningReplica:
    pool: str
    name: str
    url: str
    process: ChildProcess


@dataclass(frozen=True)
class RunningPicker:
    pool: str
    grpc_port: int
    health_port: int
    metrics_url: str
    process: ChildProcess


class LocalGateway(StartedOnEnter):
    """``async with LocalGateway(plan, options, work_dir) as gateway:`` serves at ``gateway.url``.

    ``work_dir`` receives every generated file (replica configs, endpoints files, picker configs, the
    Envoy bootstrap) and every child's log.
    """

    def __init__(self, plan: LocalPlan, options: GatewayOptions, work_dir: Path) -> None:
        self.plan = plan
        self.options = options
        self.work_dir = work_dir
        self.supervisor = ProcessSupervisor(work_dir / "logs")
        self.replicas: list[RunningReplica] = []
        # Per pool whose picker routes on KV events: the replicas' publisher and replay base ports.
        self.event_ports: dict[str, tuple[int, int | None]] = {}
        # Per pool: its picker replicas in start order (one unless the Deployment runs several).
        self.picker_replicas: dict[str, list[RunningPicker]] = {}
        # The Kubernetes Lease API the pickers' leader election talks to (no API server here).
        self.lease_api: FakeLeaseApi | None = None
        self.envoy: ChildProcess | None = None
        self.url = ""
        self.admin_url = ""

    async def start(self) -> None:
        """Start every child and wait until the gateway answers; a lost race for a port starts everything
        again on fresh ports (`start_retrying_port_races`)."""
        await start_retrying_port_races(self._start_once, self._reset)

    async def _reset(self) -> None:
        await self.stop()
        self.supervisor = ProcessSupervisor(self.work_dir / "logs")
        self.replicas, self.picker_replicas, self.envoy = [], {}, None
        self.event_ports = {}

    async def _start_once(self) -> None:
        """Start every child at once (ports are chosen up front), then wait for each tier in order.

        Python start-up dominates on small machines; overlapping it cuts time-to-ready roughly in half.
        """
        if self.options.port:
            ensure_port_free(LOOPBACK, self.options.port)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        await self._start_replicas()
        for pool in self.plan.pools:
            await self._start_picker(pool)
        await self._start_envoy()
        # Any child dying (a picker rejecting its config, a replica failing to bind) ends the start-up at
        # once with that child's log tail, not when the wait for that child comes around.
        readiness = asyncio.ensure_future(self._wait_ready(self.options.ready_timeout_s))
        watchdog = asyncio.ensure_future(self._watch_children())
        try:
            await asyncio.wait({readiness, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (readiness, watchdog):
                task.cancel()
            await asyncio.gather(readiness, watchdog, return_exceptions=True)
        for task in (watchdog, readiness):
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    async def _watch_children(self) -> None:
        while True:
            self.supervisor.check_running()
            await asyncio.sleep(0.1)

    async def _wait_ready(self, timeout_s: float) -> None:
        assert self.envoy is not None
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(wait_http_ok(session, r.process, f"{r.url}/health", timeout_s) for r in self.replicas)
            )
            # Every replica alive; per pool one serving (a follower of a leader election never serves).
            await asyncio.gather(
                *(
                    wait_grpc_serving(p.process, f"{LOOPBACK}:{p.health_port}", timeout_s, LIVENESS_SERVICE)
                    for replicas in self.picker_replicas.values()
                    for p in replicas
                )
            )
            await asyncio.gather(
                *(self._wait_one_serving(replicas, timeout_s) for replicas in self.picker_replicas.values())
            )
            self.admin_url, listener_port = await wait_envoy_ready(
                session, self.envoy, self.work_dir / "envoy" / "admin-address", timeout_s
            )
            self.url = f"http://{LOOPBACK}:{listener_port}"
            for pool in self.plan.pools:
                await wait_routable(session, self.envoy, self.url, pool.model, timeout_s)

    async def _wait_one_serving(self, replicas: list[RunningPicker], timeout_s: float) -> None:
        waits = [
            asyncio.ensure_future(wait_grpc_serving(p.process, f"{LOOPBACK}:{p.health_port}", timeout_s))
            for p in replicas
        ]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def stop(self) -> None:
        await self.supervisor.stop_all()
        if self.lease_api is not None:
            await self.lease_api.stop()
            self.lease_api = None

    @property
    def pickers(self) -> dict[str, RunningPicker]:
        """Each pool's first picker replica (its only one unless the pool runs several)."""
        return {pool: replicas[0] for pool, replicas in self.picker_replicas.items()}

    @property
    def picker_tls(self) -> bool:
        """TLS between Envoy and the pickers exactly when the planned pickers serve it (`--secure-serving`,
        the EPP's default), as every pool's picker is reached the same way."""
        return any(check_command_line(pool.picker.args).secure_serving for pool in self.plan.pools)

    def replicas_of(self, pool: str) -> list[RunningReplica]:
        return [replica for replica in self.replicas if replica.pool == pool]

    async def _start_replicas(self) -> None:
        """Each replica runs the planned vLLM flags, on a free port; the LoRA syncer's adapters are loaded at
        start (in the cluster the syncer loads them through vLLM's API once the server is up)."""
        config_dir = self.work_dir / "replicas"
        config_dir.mkdir(exist_ok=True)
        for pool in self.plan.pools:
            event_ports = self._allocate_event_ports(pool)
            for rank, replica in enumerate(pool.replicas):
                port = free_port()
                server_args, sim_config = override_planned_flags(replica.server_args, replica.sim_config)
                if event_ports is not None:
                    socket_base, replay_base = event_ports
                    server_args = with_kv_event_ports(
                        server_args, socket_base + rank, None if replay_base is None else replay_base + rank
                    )
                config_path = config_dir / f"{replica.name}.yaml"
                config_path.write_text(yaml.safe_dump(sim_config, sort_keys=False), encoding="utf-8")
                argv = [
                    sys.executable, "-m", "sim",
                    *with_flag(with_flag(server_args, "--port", str(port)), "--host", LOOPBACK),
                    "--name", replica.name,
                    "--config", str(config_path),
                ]  # fmt: skip
                if replica.adapters:
                    argv += ["--lora-modules", *(f"{name}={source}" for name, source in replica.adapters)]
                child = await self.supervisor.start(f"replica:{replica.name}", argv)
                self.replicas.append(
                    RunningReplica(pool.name, replica.name, f"http://{LOOPBACK}:{port}", child)
                )

    def _allocate_event_ports(self, pool: PoolPlan) -> tuple[int, int | None] | None:
        """A pool whose picker routes on KV events: its replicas cannot all publish on the planned port of
        one machine, so replica `rank` publishes on `base + rank` (vLLM's data-parallel rule, which the
        picker dials for an endpoint named `...-rank-<i>`) and the picker's config is told the bases."""
        text = pool.picker.config_text
        events = precise_parameters(check_config_text(text)) if text is not None else None
        if events is None:
            return None
        count = len(pool.replicas)
        replay = events.kv_events_config.pod_discovery_config.replay_socket_port
        ports = (free_port_block(count), free_port_block(count) if replay else None)
        self.event_ports[pool.name] = ports
        return ports

    def _write_endpoints_file(self, pool: PoolPlan) -> Path:
        """The picker's static discovery (no Kubernetes API here): the replicas the InferencePool would
        select and the pool's InferenceObjectives."""
        endpoints = []
        ranked = pool.name in self.event_ports
        for rank, replica in enumerate(self.replicas_of(pool.name)):
            host, _, port = replica.url.removeprefix("http://").rpartition(":")
            name = f"{replica.name}-rank-{rank}" if ranked else replica.name
            endpoints.append({"name": name, "address": host, "port": int(port), "labels": {"pool": pool.name}})
        document = {
            "endpoints": endpoints,
            "objectives": [
                {"name": name, "priority": priority} for name, priority in pool.objectives.items()
            ],
        }
        path = self.work_dir / "pickers" / f"{pool.name}-endpoints.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    def picker_argv(self, pool: PoolPlan, ports: tuple[int, int, int]) -> list[str]:
        """The planned picker args, changed only where one machine needs it (docs/local-gateway.md)."""
        endpoints_file = self._write_endpoints_file(pool)
        files = dict(pool.picker.files)
        if pool.name in self.event_ports and (path := flag_value(pool.picker.args, "--config-file")) in files:
            files[path] = with_discovery_ports(files[path], *self.event_ports[pool.name])
        args = materialise_mounts(
            pool.picker.args, files, pool.picker.secret_dirs, self.work_dir / "pickers" / pool.name
        )
        for flag, port in zip(("--grpc-port", "--grpc-health-port", "--metrics-port"), ports, strict=True):
            args = with_flag(args, flag, str(port))
        return [
            sys.executable, "-m", "picker", *args,
            "--bind-address", LOOPBACK,
            "--endpoints-file", str(endpoints_file),
            "--log-level", self.options.picker_log_level,
            # Local replicas stop quickly; a long grace period would only delay Ctrl-C.
            "--shutdown-grace-period", "2s",
        ]  # fmt: skip

    async def _start_picker(self, pool: PoolPlan) -> None:
        """The Deployment's replicas; with leader election they share a Lease on a local Lease API (the
        added `--kubeconfig` points at it), and each gets its pod name for the lease's holder identity."""
        elects = check_command_line(pool.picker.args).ha_enable_leader_election
        kubeconfig: list[str] = []
        if elects:
            kubeconfig = ["--kubeconfig", str(await self._lease_kubeconfig())]
        self.picker_replicas[pool.name] = []
        for index in range(pool.picker.replicas if elects else 1):
            grpc_port, health_port, metrics_port = free_port(), free_port(), free_port()
            argv = [*self.picker_argv(pool, (grpc_port, health_port, metrics_port)), *kubeconfig]
            name = f"picker:{pool.name}" if index == 0 else f"picker:{pool.name}-{index}"
            child = await self.supervisor.start(name, argv, env={"POD_NAME": f"{pool.name}-epp-{index}"})
            self.picker_replicas[pool.name].append(
                RunningPicker(pool.name, grpc_port, health_port, f"http://{LOOPBACK}:{metrics_port}/metrics", child)
            )

    async def _lease_kubeconfig(self) -> Path:
        if self.lease_api is None:
            self.lease_api = FakeLeaseApi()
            await self.lease_api.start()
        directory = self.work_dir / "pickers"
        directory.mkdir(parents=True, exist_ok=True)
        return self.lease_api.write_kubeconfig(directory / "kubeconfig")

    async def _start_envoy(self) -> None:
        addresses = {
            pool.name: PoolAddresses(
                picker_port=self.picker_replicas[pool.name][0].grpc_port,
                standby_picker_ports=tuple(p.grpc_port for p in self.picker_replicas[pool.name][1:]),
                replicas=tuple(r.url.removeprefix("http://") for r in self.replicas_of(pool.name)),
            )
            for pool in self.plan.pools
        }
        bootstrap = build_local_bootstrap(
            self.plan,
            addresses,
            listener_port=self.options.port,
            picker_tls=self.picker_tls,
            access_log=self.options.access_log,
        )
        envoy_dir = self.work_dir / "envoy"
        envoy_dir.mkdir(exist_ok=True)
        bootstrap_path = envoy_dir / "bootstrap.json"
        bootstrap_path.write_text(json.dumps(bootstrap, indent=2), encoding="utf-8")
        admin_address_path = envoy_dir / "admin-address"
        argv = [
            str(find_envoy_binary()),
            "-c", str(bootstrap_path),
            "--admin-address-path", str(admin_address_path),
            "--concurrency", "1",
            "--log-level", self.options.envoy_log_level,
            "--disable-hot-restart",  # several gateways on one host must not share hot-restart memory
        ]  # fmt: skip
        self.envoy = await self.supervisor.start("envoy", argv)
