"""Envoy alone in front of the fleet: round-robin (what a Kubernetes Service gives) or least-request."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from bench.targets.base import FleetView, TargetUnavailable
from infgw.envoy import EnvoyBootstrapSpec, EnvoyError, build_bootstrap, find_envoy_binary
from infgw.launch.envoy_process import EnvoyProcess

LbPolicy = Literal["ROUND_ROBIN", "LEAST_REQUEST"]


def with_lb_policy(bootstrap: dict[str, Any], lb_policy: LbPolicy) -> dict[str, Any]:
    """Sets the model-server pool's load-balancing policy.

    infgw's bootstrap builder only emits round-robin pools, so least-request is applied here on the
    built dict (Envoy's default for LEAST_REQUEST: power of two choices over active requests).
    """
    for cluster in bootstrap["static_resources"]["clusters"]:
        if cluster.get("type") == "STATIC" and "load_assignment" in cluster:
            cluster["lb_policy"] = lb_policy
    return bootstrap


@functools.cache
def envoy_version() -> str:
    try:
        out = subprocess.run([str(find_envoy_binary()), "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, EnvoyError, subprocess.TimeoutExpired):
        return "unknown"
    # "envoy  version: <sha>/1.36.2/Clean/RELEASE/BoringSSL" -> 1.36.2
    for part in out.split("/"):
        if part.count(".") == 2 and part.replace(".", "").isdigit():
            return part
    return out.strip()[:80] or "unknown"


@dataclass(frozen=True)
class EnvoyBaseline:
    wants_kv_events: ClassVar[bool] = False
    name: str
    lb_policy: LbPolicy
    description: str = ""
    # One worker thread: Envoy's load-balancer state (round-robin position, active-request counts) is
    # per worker, so more workers would blur the policy being measured.
    concurrency: int = 1

    def check_available(self) -> None:
        try:
            find_envoy_binary()
        except EnvoyError as err:
            raise TargetUnavailable(str(err)) from err

    def version(self) -> str:
        return envoy_version()

    @asynccontextmanager
    async def serve(self, fleet: FleetView) -> AsyncIterator[str]:
        spec = EnvoyBootstrapSpec(endpoints=tuple(f"{h}:{p}" for h, p in fleet.hostports()))
        bootstrap = with_lb_policy(build_bootstrap(spec), self.lb_policy)
        try:
            async with EnvoyProcess(bootstrap, concurrency=self.concurrency) as envoy:
                yield f"http://127.0.0.1:{envoy.listener_port}"
        except EnvoyError as err:
            raise TargetUnavailable(f"envoy did not start: {err}") from err
