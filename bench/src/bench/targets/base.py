"""The contract every routing target follows: given a running fleet, serve an OpenAI base URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class TargetUnavailable(RuntimeError):
    """The target cannot run on this machine (not installed, binary missing); the report says why."""


@dataclass(frozen=True, slots=True)
class FleetView:
    """What a target needs to know about the running model servers."""

    replicas: Mapping[str, str]  # replica name -> base URL (http://127.0.0.1:port)
    model: str
    work_dir: Path  # where the target may write configs and logs
    # When the replicas publish vLLM KV events: replica i's PUB is tcp://127.0.0.1:<live + i>, its replay
    # ROUTER tcp://127.0.0.1:<replay + i> (i in ``replicas`` order).
    kv_events_ports: tuple[int, int] | None = None
    scheduling_policy: str = "fcfs"  # the replicas' vLLM --scheduling-policy

    def hostports(self) -> list[tuple[str, int]]:
        out = []
        for url in self.replicas.values():
            host, port = url.removeprefix("http://").rsplit(":", 1)
            out.append((host, int(port)))
        return out


class Target(Protocol):
    """A router under test. ``serve`` yields the base URL clients send to, and stops everything on exit."""

    name: str
    description: str
    wants_kv_events: bool  # the fleet must publish KV events for this target

    def check_available(self) -> None:
        """Raise TargetUnavailable with a reason if this target cannot run here."""
        ...

    def version(self) -> str: ...

    def serve(self, fleet: FleetView) -> AbstractAsyncContextManager[str]: ...




# Stops the target's picker and starts a new one in its place; returns once the new one routes.
RestartPicker = Callable[[], Awaitable[None]]


class RestartableTarget(Target, Protocol):
    """A target whose picker can be restarted mid-run (the scenario's ``picker_restart``)."""

    def serve_restartable(self, fleet: FleetView) -> AbstractAsyncContextManager[tuple[str, RestartPicker]]: ...
