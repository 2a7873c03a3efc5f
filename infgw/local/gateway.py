"""The running local gateway: simulated replicas, one picker per pool and Envoy, started from a LocalPlan
in dependency order, each waited on until healthy, all stopped together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile
from picker.placements.peer_flags import PLACEMENT_PORT_FLAG
from picker.plugins.kv_event_prefix_index import kv_event_parameters
from picker.preflight import check_command_line, check_config_text

from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.picker_process import PickerProcess
from infgw.launch.placement_peers import loopback_placement_flags
from infgw.launch.ports import ensure_port_free, free_port, free_port_block, start_retrying_port_races
from infgw.launch.readiness import wait_envoy_ready, wait_grpc_serving, wait_routable
from infgw.launch.replica_process import ReplicaProcess
from infgw.launch.started_on_enter import StartedOnEnter
from infgw.launch.supervisor import ProcessSupervisor
from infgw.local.container_args import (
    materialise_mounts,
    override_planned_flags,
    with_discovery_ports,
    with_kv_event_ports,
    with_placement_flags,
)
from infgw.local.envoy_config import PoolAddresses, build_local_bootstrap
from infgw.local.gateway_options import GatewayOptions
from infgw.local.lease_api import FakeLeaseApi
from infgw.local.plan import LocalPlan, PoolPlan
from infgw.plan.pool_wiring import flag_value

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class RunningReplica:
    """A replica of a pool; ``replica.child`` is its process."""

    pool: str
    replica: ReplicaProcess

    @property
    def name(self) -> str:
        return self.replica.name

    @property
    def url(self) -> str:
        return self.replica.url


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
        self.picker_replicas: dict[str, list[PickerProcess]] = {}
        # The Kubernetes Lease API the pickers' leader election talks to (no API server here).
        self.lease_api: FakeLeaseApi | None = None
        self.envoy: EnvoyProcess | None = None
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
        # Every replica and picker up (each announces it); per pool one picker serving (a follower of a
        # leader election never serves).
        await asyncio.gather(*(r.replica.wait_ready() for r in self.replicas))
        await asyncio.gather(
            *(p.wait_ready() for replicas in self.picker_replicas.values() for p in replicas)
        )
        await asyncio.gather(
            *(self._wait_one_serving(replicas, timeout_s) for replicas in self.picker_replicas.values())
        )
        await wait_envoy_ready(self.envoy, timeout_s)
        self.admin_url, self.url = self.envoy.admin_url, f"http://{LOOPBACK}:{self.envoy.listener_port}"
        async with aiohttp.ClientSession() as session:
            for pool in self.plan.pools:
                await wait_routable(session, self.envoy.child, self.url, pool.model, timeout_s)

    async def _wait_one_serving(self, replicas: list[PickerProcess], timeout_s: float) -> None:
        waits = [
            asyncio.ensure_future(wait_grpc_serving(p.child, f"{LOOPBACK}:{p.health_port}", timeout_s))
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
    def pickers(self) -> dict[str, PickerProcess]:
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
                args = [*server_args, "--config", str(config_path)]
                if replica.adapters:
                    args += ["--lora-modules", *(f"{name}={source}" for name, source in replica.adapters)]
                process = ReplicaProcess(
                    replica.name,
                    self.supervisor.log_path(f"replica:{replica.name}"),
                    args,
                    port=port,
                    ready_timeout_s=self.options.ready_timeout_s,
                )
                self.supervisor.track(process.child)
                process.start()
                self.replicas.append(RunningReplica(pool.name, process))

    def _allocate_event_ports(self, pool: PoolPlan) -> tuple[int, int | None] | None:
        """A pool whose picker routes on KV events: its replicas cannot all publish on the planned port of
        one machine, so replica `rank` publishes on `base + rank` (vLLM's data-parallel rule, which the
        picker dials for an endpoint named `...-rank-<i>`) and the picker's config is told the bases."""
        text = pool.picker.config_text
        events = kv_event_parameters(check_config_text(text)) if text is not None else None
        if events is None:
            return None
        count = len(pool.replicas)
        replay = events.kv_events_config.pod_discovery_config.replay_socket_port
        ports = (free_port_block(count), free_port_block(count) if replay else None)
        self.event_ports[pool.name] = ports
        return ports

    def _endpoints(self, pool: PoolPlan) -> StaticPoolFile:
        """The picker's static discovery (no Kubernetes API here): the replicas the InferencePool would
        select and the pool's InferenceObjectives."""
        ranked = pool.name in self.event_ports
        endpoints = [
            StaticEndpoint(
                name=f"{replica.name}-rank-{rank}" if ranked else replica.name,
                address=replica.replica.host,
                port=replica.replica.port,
                labels={"pool": pool.name},
            )
            for rank, replica in enumerate(self.replicas_of(pool.name))
        ]
        return StaticPoolFile.of(endpoints, pool.objectives)

    def picker_args(self, pool: PoolPlan) -> list[str]:
        """The planned picker args, changed only where one machine needs it (docs/local-gateway.md); the
        launcher sets the ports, the bind address and the endpoints file."""
        files = dict(pool.picker.files)
        if pool.name in self.event_ports and (path := flag_value(pool.picker.args, "--config-file")) in files:
            files[path] = with_discovery_ports(files[path], *self.event_ports[pool.name])
        args = materialise_mounts(
            pool.picker.args, files, pool.picker.secret_dirs, self.work_dir / "pickers" / pool.name
        )
        return [
            *args,
            "--log-level", self.options.picker_log_level,
            # Local replicas stop quickly; a long grace period would only delay Ctrl-C.
            "--shutdown-grace-period", "2s",
        ]  # fmt: skip

    def picker_replica_args(self, pool: PoolPlan) -> list[list[str]]:
        """Per replica of the Deployment, its args: :meth:`picker_args`, and where the planned replicas share
        placements (active-active: `--placement-port`, peers by the headless Service's name), each its own
        loopback UDP port with the others' as peers, from the function the stack derives its flags with."""
        args = self.picker_args(pool)
        count = pool.picker.replicas
        if flag_value(pool.picker.args, PLACEMENT_PORT_FLAG) is None:
            return [list(args) for _ in range(count)]
        return [with_placement_flags(args, flags) for flags in loopback_placement_flags(count, LOOPBACK)]

    async def _start_picker(self, pool: PoolPlan) -> None:
        """The Deployment's replicas: with leader election they share a Lease on a local Lease API (the
        added `--kubeconfig` points at it) and each gets its pod name for the lease's holder identity;
        without (one replica, or active-active), every replica serves, active-active ones share their
        placements, and Envoy spreads streams over them."""
        elects = check_command_line(pool.picker.args).ha_enable_leader_election
        replica_args = self.picker_replica_args(pool)
        if elects:
            kubeconfig = str(await self._lease_kubeconfig())
            replica_args = [[*args, "--kubeconfig", kubeconfig] for args in replica_args]
        endpoints_file = self._endpoints(pool).write(
            self.work_dir / "pickers" / f"{pool.name}-endpoints.yaml"
        )
        self.picker_replicas[pool.name] = []
        for index, args in enumerate(replica_args):
            name = pool.name if index == 0 else f"{pool.name}-{index}"
            picker = PickerProcess(
                name,
                self.supervisor.log_path(f"picker:{name}"),
                endpoints_file,
                args,
                grpc_port=free_port(),
                health_port=free_port(),
                metrics_port=free_port(),
                env={"POD_NAME": f"{pool.name}-epp-{index}"},
                ready_timeout_s=self.options.ready_timeout_s,
            )
            self.supervisor.track(picker.child)
            picker.start()
            self.picker_replicas[pool.name].append(picker)

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
        self.envoy = EnvoyProcess(
            bootstrap,
            work_dir=self.work_dir / "envoy",
            log_path=self.supervisor.log_path("envoy"),
            log_level=self.options.envoy_log_level,
        )
        self.supervisor.track(self.envoy.spawn())
