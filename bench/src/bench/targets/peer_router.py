"""The Rust routers people run instead (sglang-router, vllm-router, smg), each in cache_aware mode.

They live in their own virtualenv (``python -m bench install-peers``) because their Python wrappers'
dependencies need not agree with the project venv's protobuf/grpcio pins; the bench only runs their
console scripts, so nothing is imported across the two environments.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import ClassVar

import aiohttp

from bench.targets.base import FleetView, TargetUnavailable
from infgw.launch.child_process import ChildProcess
from infgw.launch.ports import free_port
from infgw.launch.readiness import wait_http_ok

# package name on PyPI -> console script it installs
PEER_PACKAGES = {"sglang-router": "sglang-router", "vllm-router": "vllm-router", "smg": "smg"}


def default_peers_venv() -> Path:
    """``.venv/peers`` next to the project venv's interpreter (``make clean`` removes both)."""
    return Path(sys.prefix) / "peers"


@dataclass(frozen=True)
class PeerRouter:
    """One peer router binary. ``launch_subcommand`` is "launch" for the sglang-style CLIs, "" otherwise."""

    wants_kv_events: ClassVar[bool] = False
    name: str
    package: str
    launch_subcommand: str
    policy: str
    venv: Path
    description: str = ""
    ready_timeout_s: float = 60.0

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / PEER_PACKAGES[self.package]

    def check_available(self) -> None:
        if not self.executable.exists():
            raise TargetUnavailable(f"{self.package} is not installed in {self.venv}; run "
                                    "`python -m bench install-peers` (needs PyPI)")

    def version(self) -> str:
        """Read from the peers venv's installed metadata (no subprocess, no import of the package)."""
        for site_packages in self.venv.glob("lib/python*/site-packages"):
            for dist in metadata.distributions(path=[str(site_packages)]):
                if dist.metadata["Name"].lower() == self.package:
                    return dist.version
        return "unknown"

    def argv(self, port: int, metrics_port: int, worker_urls: list[str]) -> list[str]:
        argv = [str(self.executable)]
        if self.launch_subcommand:
            argv.append(self.launch_subcommand)
        argv += ["--host", "127.0.0.1", "--port", str(port), "--worker-urls", *worker_urls,
                 "--policy", self.policy,
                 # A private metrics port: the default one may be taken by another process on the box.
                 "--prometheus-host", "127.0.0.1", "--prometheus-port", str(metrics_port)]
        return argv

    @asynccontextmanager
    async def serve(self, fleet: FleetView) -> AsyncIterator[str]:
        self.check_available()
        port = free_port()
        process = ChildProcess(
            self.name, self.argv(port, free_port(), list(fleet.replicas.values())),
            fleet.work_dir / f"{self.name}.log")
        async with process, aiohttp.ClientSession() as session:
            # Both CLIs wait for every worker's /health before they serve; /health answers once ready.
            await wait_http_ok(session, process, f"http://127.0.0.1:{port}/health", self.ready_timeout_s)
            yield f"http://127.0.0.1:{port}"
