"""The project's gateway: Envoy with the picker as ext_proc, the picker reading a static endpoints file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import metadata

import yaml

from bench.targets.base import FleetView, RestartPicker, TargetUnavailable
from bench.targets.envoy_baseline import envoy_version
from infgw.envoy import (
    WORKER_STREAMS_PER_CONNECTION,
    BodyMode,
    EnvoyBootstrapSpec,
    EnvoyError,
    PickerConnection,
    build_bootstrap,
)
from infgw.launch.envoy_process import EnvoyProcess

# Two rounds of Envoy's 2 s picker health checks.
HEALTH_CHECK_SETTLE_S = 4.5
# InferenceObjectives the priority-mix workload names; batch < 0 makes it sheddable (EPP semantics).
DEFAULT_OBJECTIVES = {"critical": 100, "batch": -1}


def picker_profile_text(profile: str) -> str:
    """A profile shipped with the picker (``picker.profiles``): the same text the stack deploys."""
    try:
        from picker.profiles import UnknownProfileError, profile_text
    except ImportError as err:
        raise TargetUnavailable("the picker package is not installed in this environment") from err
    try:
        return profile_text(profile)
    except UnknownProfileError as err:
        raise TargetUnavailable(str(err)) from err


def kv_events_endpoint_name(replica: str, rank: int) -> str:
    """The picker's name for fleet replica ``replica`` (data-parallel rank ``rank``) when it subscribes to the
    replicas' KV events: what rendezvous placement hashes, so the simulation names endpoints alike."""
    return f"{replica}-rank-{rank}"


@dataclass(frozen=True)
class PickerGateway:
    name: str
    profile: str  # a shipped profile (picker.profiles)
    description: str = ""
    objectives: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_OBJECTIVES))
    # FULL_DUPLEX_STREAMED: every response chunk passes through the picker (token usage accounting, as
    # the EPP does). NONE: the picker sees response headers only ("lean"), two fewer messages per request.
    response_body_mode: BodyMode = BodyMode.FULL_DUPLEX_STREAMED
    ready_timeout_s: float = 30.0
    # The profile's precise-prefix-cache-scorer dials the replicas' KV-event publishers (the fleet then
    # publishes): endpoints are named <name>-rank-<i> and the scorer's ports set to the fleet's.
    wants_kv_events: bool = False
    # --workers: picker processes sharing the ext_proc port (one supervisor answering for them).
    workers: int = 1
    # Picker replicas, each its own process(es), all serving (active-active): Envoy health-checks them and
    # round-robins streams over them, so each sees about 1/replicas of the traffic.
    replicas: int = 1
    # With replicas > 1: each replica shares its placements with the others over UDP (--placement-port,
    # --placement-peers), as the stack's active-active precise pickers do.
    share_placements: bool = False
    # precise-prefix-cache-scorer parameters set over the profile's (a variant of a shipped profile, e.g.
    # its other coldPlacement rule, measured beside it).
    scorer_overrides: tuple[tuple[str, object], ...] = ()

    def check_available(self) -> None:
        picker_profile_text(self.profile)
        try:
            import picker.__main__  # noqa: F401  (the CLI the target runs)
        except ImportError as err:
            raise TargetUnavailable(f"picker has no CLI yet (python -m picker): {err}") from err

    def version(self) -> str:
        try:
            picker_version = metadata.version("gke-inference-picker")
        except metadata.PackageNotFoundError:
            picker_version = "unknown"
        return f"picker {picker_version} ({self.profile} profile), envoy {envoy_version()}"

    def picker_args(self, config_text: str | None = None, scheduling_policy: str = "fcfs") -> list[str]:
        """The picker's flags (the launcher adds the endpoints file, bind address and ports).
        ``scheduling_policy``: the replicas' vLLM policy, passed on as --model-server-scheduling-policy."""
        return [
            "--config-text", config_text or picker_profile_text(self.profile),
            "--secure-serving=false",
            "--log-level", "warning",
            "--model-server-scheduling-policy", scheduling_policy,
            "--workers", str(self.workers),
        ]  # fmt: skip

    @asynccontextmanager
    async def serve(self, fleet: FleetView) -> AsyncIterator[str]:
        async with self.serve_restartable(fleet) as (base_url, _):
            yield base_url

    @asynccontextmanager
    async def serve_restartable(self, fleet: FleetView) -> AsyncIterator[tuple[str, RestartPicker]]:
        """As ``serve``, with a function that restarts the picker on the same ports (Envoy stays up) and
        returns once requests route through the new picker."""
        self.check_available()
        from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile  # checked just above

        from infgw.launch.picker_process import PickerProcess

        config_text = self._events_profile(fleet) if self.wants_kv_events else None
        endpoints = [
            StaticEndpoint(name=kv_events_endpoint_name(name, rank) if self.wants_kv_events else name,
                           address=url.removeprefix("http://").rsplit(":", 1)[0], port=int(url.rsplit(":", 1)[1]))
            for rank, (name, url) in enumerate(fleet.replicas.items())
        ]
        sharing = self._placement_sharing_args()
        async with contextlib.AsyncExitStack() as stack:
            # Every replica serves (active-active); each draws tie-breaks from its own seed.
            pickers = []
            for replica in range(self.replicas):
                name = self.name if replica == 0 else f"{self.name}-{replica}"
                pickers.append(await stack.enter_async_context(PickerProcess(
                    name, fleet.work_dir / f"{name}.log", fleet.work_dir / f"{self.name}-endpoints.yaml",
                    [*self.picker_args(config_text, fleet.scheduling_policy), "--seed", str(replica),
                     *sharing[replica]],
                    endpoints=StaticPoolFile.of(endpoints, self.objectives), ready_timeout_s=self.ready_timeout_s,
                )))  # fmt: skip
            spec = EnvoyBootstrapSpec(picker=PickerConnection(
                port=pickers[0].grpc_port, standby_ports=tuple(p.grpc_port for p in pickers[1:]),
                health_check=self.replicas > 1, tls=False, response_body_mode=self.response_body_mode,
                max_streams_per_connection=WORKER_STREAMS_PER_CONNECTION if self.workers > 1 else None))
            try:
                envoy = EnvoyProcess(build_bootstrap(spec), ready_timeout_s=self.ready_timeout_s)
                async with envoy:
                    # The picker needs one scrape of every replica before it will route; wait for it.
                    base_url = f"http://127.0.0.1:{envoy.listener_port}"
                    await _wait_routable(base_url, self.ready_timeout_s)
                    if self.replicas > 1:
                        # Envoy's health checks (every 2 s) must have found every replica before load starts.
                        await asyncio.sleep(HEALTH_CHECK_SETTLE_S)

                    async def restart() -> None:
                        for picker in pickers:
                            await picker.restart()  # same ports, log appended; returns once it announces itself
                        await _wait_routable(base_url, self.ready_timeout_s)

                    yield base_url, restart
            except EnvoyError as err:
                raise TargetUnavailable(f"envoy did not start: {err}") from err

    def _placement_sharing_args(self) -> list[list[str]]:
        """Per replica, its --placement-port and the others' addresses (none without share_placements), from
        the function `infgw local` runs the stack's active-active replicas with."""
        if not self.share_placements or self.replicas < 2:
            return [[] for _ in range(self.replicas)]
        from infgw.launch.placement_peers import loopback_placement_flags

        return loopback_placement_flags(self.replicas)

    def _events_profile(self, fleet: FleetView) -> str:
        """The profile with its KV-event plugin dialing the fleet's KV-event ports (rank i: base + i), as
        `infgw local` points a planned picker at its replicas; then the target's scorer overrides."""
        from picker.plugins.kv_event_prefix_index import KV_EVENT_PLUGIN_TYPES

        from infgw.local.container_args import with_discovery_ports

        if fleet.kv_events_ports is None:
            raise TargetUnavailable(f"{self.name} needs a fleet that publishes KV events")
        live, replay = fleet.kv_events_ports
        profile = yaml.safe_load(with_discovery_ports(picker_profile_text(self.profile), live, replay))
        plugins = [p for p in profile["plugins"] if p["type"] in KV_EVENT_PLUGIN_TYPES]
        if not plugins:
            raise TargetUnavailable(f"profile {self.profile!r} has no {' or '.join(KV_EVENT_PLUGIN_TYPES)}")
        for plugin in plugins:
            plugin["parameters"].update(self.scorer_overrides)
        return yaml.safe_dump(profile)


async def _wait_routable(base_url: str, timeout_s: float) -> None:
    """Polls a GET through the gateway until it stops answering 503 (picker has endpoints)."""
    import aiohttp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    status = 0
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            try:
                async with session.get(base_url + "/v1/models", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    status = resp.status
                    if status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            await asyncio.sleep(0.2)
    raise TargetUnavailable(f"gateway at {base_url} not routing after {timeout_s:g} s (last status {status})")
