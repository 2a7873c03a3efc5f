"""Starting and stopping simulated replicas from Python: ``handle = await start_simulator(config)``."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from sim.api.app import build_app
from sim.clock import Clock
from sim.config import SimConfig
from sim.runtime import SimulatorRuntime


@dataclass
class SimulatorHandle:
    """A running replica. ``stop()`` closes its listener and cancels everything it runs."""

    name: str
    host: str
    port: int
    runtime: SimulatorRuntime
    _runner: web.AppRunner

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> SimulatorHandle:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def start_simulator(
    config: SimConfig,
    clock: Clock | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> SimulatorHandle:
    """Bind ``config.host:config.port`` (0 = any free port) and serve until ``stop()``.

    Raises ``ConfigError`` for a bad profile or limits, ``OSError`` if the port is taken.
    """
    # Validate everything that can fail before binding, so a bad config never leaves a socket open.
    probe_name = config.name or f"{config.host}:{config.port}"
    runtime_kwargs: dict[str, object] = {"clock": clock}
    if wall_clock is not None:
        runtime_kwargs["wall_clock"] = wall_clock
    runtime = SimulatorRuntime(config, probe_name, **runtime_kwargs)  # type: ignore[arg-type]
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    listener = socket.create_server((config.host, config.port), family=family)
    port = listener.getsockname()[1]
    runtime.replica_name = config.name or f"{config.host}:{port}"
    runner = web.AppRunner(
        build_app(runtime),
        handler_cancellation=True,  # a client that hangs up cancels its handler, which aborts its request
        access_log=None,
        shutdown_timeout=config.shutdown_timeout_s,
    )
    try:
        await runner.setup()
        site = web.SockSite(runner, listener)
        await site.start()
    except BaseException:
        await runner.cleanup()
        listener.close()
        raise
    return SimulatorHandle(runtime.replica_name, config.host, port, runtime, runner)
