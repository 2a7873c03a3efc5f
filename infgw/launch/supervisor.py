"""Owns every child process of one gateway run (the local gateway's, a regional tier's): notices one that
died, stops all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from infgw.launch.child_process import ChildProcess


class ProcessSupervisor:
    """Children are stopped in reverse start order (Envoy first, replicas last) by :meth:`stop_all`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[ChildProcess] = []

    @property
    def children(self) -> tuple[ChildProcess, ...]:
        return tuple(self._children)

    def child(self, name: str) -> ChildProcess:
        return next(child for child in self._children if child.name == name)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def track(self, child: ChildProcess) -> ChildProcess:
        """Own `child` (started by the caller, or about to be): it is checked and stopped with the rest."""
        self._children.append(child)
        return child

    def check_running(self, names: Sequence[str] | None = None) -> None:
        """Raise ChildExitedError for the first (named) child that has exited."""
        for child in self._children:
            if names is None or child.name in names:
                child.check_running()

    def exited(self) -> list[ChildProcess]:
        return [child for child in self._children if child.returncode is not None]

    async def stop_all(self, timeout_s: float = 5.0) -> None:
        # Envoy and pickers first so no new request reaches a replica that is going away; each tier
        # stops concurrently so a shutdown costs one grace period per tier, not per process.
        tiers: dict[str, list[ChildProcess]] = {}
        for child in reversed(self._children):
            tiers.setdefault(child.name.split(":", 1)[0], []).append(child)
        for tier in tiers.values():
            await asyncio.gather(*(child.stop(timeout_s) for child in tier), return_exceptions=True)
