"""No router at all: the client itself rotates over the replicas. The floor every router is measured against."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ClassVar

from bench.targets.base import FleetView


@dataclass(frozen=True)
class DirectToReplicas:
    """Client-side round-robin; yields the replica URLs joined by commas (the driver splits them)."""

    name: str = "direct"
    wants_kv_events: ClassVar[bool] = False
    description: str = "client-side round-robin straight to the replicas (no proxy)"

    def check_available(self) -> None:
        return None

    def version(self) -> str:
        return "n/a"

    @asynccontextmanager
    async def serve(self, fleet: FleetView) -> AsyncIterator[str]:
        yield ",".join(fleet.replicas.values())
