"""The running multi-region local gateway: per region the single-cluster LocalGateway of that cluster's
rendered manifests (replicas, pickers, its Envoy), the cross-region tier's Envoy in front, and the
utilization loop that feeds the tier the regions' reported utilization.

Faults: :meth:`RegionalGateway.take_down` kills a region's replicas or its pickers (SIGKILL, a crash)
while serving, or fails its health checks while both keep running; :meth:`RegionalGateway.bring_up`
starts them again on the same ports (or lets the health checks through again).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from infgw.launch.child_process import ChildProcess
from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.ports import ensure_port_free, free_port, start_retrying_port_races
from infgw.launch.readiness import wait_envoy_ready, wait_routable
from infgw.launch.started_on_enter import StartedOnEnter
from infgw.launch.supervisor import ProcessSupervisor
from infgw.local.gateway import LOOPBACK, LocalGateway
from infgw.local.gateway_options import GatewayOptions
from infgw.local.regions.regional_options import RegionalOptions
from infgw.local.regions.regional_plan import RegionalPlan
from infgw.local.regions.spill_controller import SpillController
from infgw.local.regions.tier_bootstrap import (
    SHARE_DENOMINATOR,
    RegionAddresses,
    TierBootstrapSpec,
    build_probe_bootstrap,
    build_tier_bootstrap,
    health_key,
    nearest_cluster,
    share_key,
)
from infgw.local.regions.tier_config import BalancingMode
from infgw.local.regions.traffic_log import RegionTraffic, TrafficLog
from infgw.local.regions.utilization import DelayedReports, region_utilization, scrape_region

# How often Envoy writes its access log to disk (its default is 10 s): the status view counts from it.
ACCESS_LOG_FLUSH_MS = 200


class RegionPart(enum.StrEnum):
    """What of a region a fault takes down."""

    REPLICAS = "replicas"
    PICKER = "picker"
    HEALTH = "health"  # the tier's health checks of its model servers fail; replicas and picker run on


class RegionStatus(BaseModel):
    """One region as the status view and the control endpoint show it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    cluster: str
    url: str
    utilization: float | None = Field(description="The reported (delayed) utilization, 0..1.")
    target: float
    local_share: float
    healthy_endpoints: int
    endpoints: int
    local: int
    spilled: int
    failed_over: int
    failed: int
    served: int
    down: tuple[str, ...]


class RegionalGateway(StartedOnEnter):
    """``async with RegionalGateway(plan, options, work_dir) as gateway:`` serves at ``gateway.url`` (the
    client region's address) and ``gateway.urls[region]``."""

    def __init__(self, plan: RegionalPlan, options: RegionalOptions, work_dir: Path) -> None:
        self.plan = plan
        self.options = options
        self.work_dir = work_dir
        self.client_region = (
            plan.region(options.client_region).region if options.client_region else plan.regions[0].region
        )
        self.gateways: dict[str, LocalGateway] = {
            region.region: LocalGateway(
                region.plan,
                GatewayOptions(ready_timeout_s=options.ready_timeout_s, access_log=options.access_log),
                work_dir / region.cluster,
            )
            for region in plan.regions
        }
        self.supervisor = ProcessSupervisor(work_dir / "tier" / "logs")
        self.tier_envoy: EnvoyProcess | None = None
        self.probes_envoy: EnvoyProcess | None = None
        self.urls: dict[str, str] = {}
        self.admin_url = ""
        regions = [region.region for region in plan.regions]
        self.controller = SpillController(regions, plan.tier.max_utilization)
        self.reports = DelayedReports(regions, options.report_delay_s)
        self.reported: dict[str, float | None] = dict.fromkeys(regions)
        self.traffic = TrafficLog(work_dir / "tier" / "access.log", tuple(regions))
        self.down: dict[str, set[RegionPart]] = {region: set() for region in regions}
        self._loop_task: asyncio.Task[None] | None = None
        self._posted: dict[str, int] = {}

    @property
    def url(self) -> str:
        return self.urls[self.client_region]

    @property
    def balances(self) -> bool:
        """Whether reports move traffic (a dryRun metric, or RATE, is reported only)."""
        return not self.plan.tier.dry_run and self.plan.tier.balancing_mode in (
            BalancingMode.CUSTOM_METRICS,
            BalancingMode.IN_FLIGHT,
        )

    async def start(self) -> None:
        if self.options.port:
            ensure_port_free(LOOPBACK, self.options.port)
        await asyncio.gather(*(gateway.start() for gateway in self.gateways.values()))
        await self._start_tier()
        self._loop_task = asyncio.ensure_future(self._report_loop())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await self.supervisor.stop_all()
        await asyncio.gather(*(gateway.stop() for gateway in self.gateways.values()), return_exceptions=True)

    def _pool_replicas(self, region: str) -> list[str]:
        """The tier's endpoints in ``region``: the exported pool's replicas (ip:port)."""
        return [
            replica.url.removeprefix("http://")
            for replica in self.gateways[region].replicas_of(self.plan.tier.pool)
        ]

    def _free_ports(self, count: int) -> list[int]:
        """``count`` distinct free ports (the OS may hand out a just-probed port twice)."""
        ports: list[int] = []
        while len(ports) < count:
            if (port := free_port()) not in ports and port != self.options.port:
                ports.append(port)
        return ports

    def tier_spec(self) -> TierBootstrapSpec:
        targets = {region.region: tuple(self._pool_replicas(region.region)) for region in self.plan.regions}
        ports = iter(self._free_ports(2 * len(self.plan.regions) + sum(map(len, targets.values()))))
        addresses = []
        for region in self.plan.regions:
            gateway = self.gateways[region.region]
            own = region.region == self.client_region and self.options.port
            client_port = self.options.port if own else next(ports)
            addresses.append(
                RegionAddresses(
                    region=region.region,
                    entry_port=int(gateway.url.rpartition(":")[2]),
                    health_targets=targets[region.region],
                    probe_ports=tuple(next(ports) for _ in targets[region.region]),
                    client_port=client_port,
                    hop_port=next(ports),
                )
            )
        return TierBootstrapSpec(
            tier=self.plan.tier,
            regions=tuple(addresses),
            inter_region_delay_s=self.options.inter_region_delay_s,
            access_log_path=self.traffic.path,
        )

    async def _start_tier(self) -> None:
        """Start the tier's Envoy; start it again on fresh ports if one was taken in the meantime."""
        await start_retrying_port_races(self._start_tier_once, self._reset_tier)

    async def _reset_tier(self) -> None:
        await self.supervisor.stop_all()
        self.supervisor = ProcessSupervisor(self.work_dir / "tier" / "logs")

    async def _start_envoy(self, name: str, bootstrap: dict[str, Any]) -> EnvoyProcess:
        """One of the tier's Envoys (``envoy:<name>``, files in ``<work>/<name>/``), once ready."""
        envoy = EnvoyProcess(
            bootstrap,
            work_dir=self.work_dir / name,
            name=f"envoy:{name}",
            log_path=self.supervisor.log_path(f"envoy:{name}"),
            extra_args=("--file-flush-interval-msec", str(ACCESS_LOG_FLUSH_MS)),
        )
        self.supervisor.track(envoy.spawn())
        await wait_envoy_ready(envoy, self.options.ready_timeout_s)
        return envoy

    async def _start_tier_once(self) -> None:
        spec = self.tier_spec()
        # The probes first: the tier's first health-check round must reach the replicas.
        self.probes_envoy = await self._start_envoy("probes", build_probe_bootstrap(spec))
        self.tier_envoy = await self._start_envoy("tier", build_tier_bootstrap(spec))
        self.urls = {address.region: f"http://{LOOPBACK}:{address.client_port}" for address in spec.regions}
        model = self.plan.regions[0].plan.pool(self.plan.tier.pool).model
        self.admin_url = self.tier_envoy.admin_url
        async with aiohttp.ClientSession() as session:
            for url in self.urls.values():
                await wait_routable(session, self.tier_envoy.child, url, model, self.options.ready_timeout_s)

    def check_running(self) -> None:
        """Raise ChildExitedError if the tier's or the probes' Envoy has exited."""
        for envoy in (self.tier_envoy, self.probes_envoy):
            if envoy is not None:
                envoy.child.check_running()

    async def _report_loop(self) -> None:
        """Scrape every region, record, report (delayed), and set the tier's local shares."""
        async with aiohttp.ClientSession() as session:
            while True:
                await self.report_once(session)
                await asyncio.sleep(self.options.report_interval_s)

    async def report_once(self, session: aiohttp.ClientSession) -> None:
        now = time.monotonic()
        tier = self.plan.tier
        path = tier.metric.path if tier.metric is not None else "/metrics"
        for region in self.plan.regions:
            urls = [f"http://{address}{path}" for address in self._pool_replicas(region.region)]
            readings = await scrape_region(session, tier, urls)
            self.reports.record(region.region, now, region_utilization(tier, readings))
        self.reported = {region: self.reports.reported(region, now) for region in self.reported}
        if self.balances:
            await self._post_shares(session, self.controller.update(self.reported))

    async def _post_shares(self, session: aiohttp.ClientSession, shares: dict[str, float]) -> None:
        updates = {
            share_key(region): round(share * SHARE_DENOMINATOR)
            for region, share in shares.items()
            if self._posted.get(region) != round(share * SHARE_DENOMINATOR)
        }
        if not updates:
            return
        await self._modify_runtime(session, updates)
        for region, share in shares.items():
            self._posted[region] = round(share * SHARE_DENOMINATOR)

    async def _modify_runtime(
        self, session: aiohttp.ClientSession, values: dict[str, int], *, admin_url: str | None = None
    ) -> None:
        """Set runtime keys of the tier's Envoy (or of the one at ``admin_url``)."""
        async with session.post(
            f"{admin_url or self.admin_url}/runtime_modify", params={k: str(v) for k, v in values.items()}
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"the tier's Envoy refused a runtime update: HTTP {response.status}")

    async def healthy_endpoints(self, session: aiohttp.ClientSession) -> dict[str, tuple[int, int]]:
        """Per region (healthy, all) of its endpoints, as the tier's health checks see them."""
        async with session.get(f"{self.admin_url}/clusters?format=json") as response:
            document = await response.json(content_type=None)
        counts = {region: (0, 0) for region in self.reported}
        wanted = nearest_cluster(self.client_region)
        for cluster in document.get("cluster_statuses", []):
            if cluster.get("name") != wanted:
                continue
            for host in cluster.get("host_statuses", []):
                region = str(host.get("locality", {}).get("region", ""))
                if region not in counts:
                    continue
                status = host.get("health_status", {})
                healthy = (
                    not status.get("failed_active_health_check")
                    and status.get("eds_health_status", "HEALTHY") == "HEALTHY"
                )
                good, total = counts[region]
                counts[region] = (good + int(healthy), total + 1)
        return counts

    async def status(self, session: aiohttp.ClientSession) -> list[RegionStatus]:
        traffic = self.traffic.update()
        health = await self.healthy_endpoints(session)
        rows = []
        for region in self.plan.regions:
            counts: RegionTraffic = traffic[region.region]
            healthy, total = health[region.region]
            rows.append(
                RegionStatus(
                    region=region.region,
                    cluster=region.cluster,
                    url=self.urls[region.region],
                    utilization=self.reported[region.region],
                    target=self.plan.tier.max_utilization,
                    local_share=self.controller.shares[region.region],
                    healthy_endpoints=healthy,
                    endpoints=total,
                    local=counts.local,
                    spilled=counts.spilled,
                    failed_over=counts.failed_over,
                    failed=counts.failed,
                    served=counts.served,
                    down=tuple(sorted(part.value for part in self.down[region.region])),
                )
            )
        return rows

    def _children(self, region: str, part: RegionPart) -> list[ChildProcess]:
        gateway = self.gateways[self.plan.region(region).region]
        if part is RegionPart.REPLICAS:
            return [replica.replica.child for replica in gateway.replicas]
        if part is RegionPart.PICKER:
            return [picker.child for pickers in gateway.picker_replicas.values() for picker in pickers]
        return []  # HEALTH: no process stops, the tier's probes fail

    async def _set_health_checks(self, region: str, passing: bool) -> None:
        assert self.probes_envoy is not None
        async with aiohttp.ClientSession() as session:
            await self._modify_runtime(
                session,
                {health_key(region): SHARE_DENOMINATOR if passing else 0},
                admin_url=self.probes_envoy.admin_url,
            )

    async def take_down(self, region: str, part: RegionPart) -> None:
        """Kill ``region``'s replicas or pickers (SIGKILL: a crash, no drain), or fail its health checks."""
        name = self.plan.region(region).region
        if part is RegionPart.HEALTH:
            await self._set_health_checks(name, passing=False)
        for child in self._children(name, part):
            child.kill()
        self.down[name].add(part)

    async def bring_up(self, region: str, part: RegionPart) -> None:
        """Start them again with the same command lines (same ports), or let the health checks through."""
        name = self.plan.region(region).region
        if part is RegionPart.HEALTH:
            await self._set_health_checks(name, passing=True)
        for child in self._children(name, part):
            if not child.running:
                child.start()
        self.down[name].discard(part)

    async def set_down(self, region: str, part: RegionPart, *, down: bool) -> None:
        """:meth:`take_down` or :meth:`bring_up`."""
        await (self.take_down(region, part) if down else self.bring_up(region, part))
