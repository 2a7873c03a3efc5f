"""An in-process fake of the Lease API for elector tests: one stored Lease with resourceVersion checks,
shared by several electors (one lock each), with faults a test can switch on per lock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from picker.leadership.lease_lock import LeaseConflict
from picker.leadership.lease_record import LeaseRecord


class MemoryLeaseStore:
    """The API server's side: the Lease, and a version that changes on every write."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self._version = 0
        self.writes = 0

    def lock(self, name: str = "default/epp-default-pool.llm-d.ai") -> MemoryLeaseLock:
        return MemoryLeaseLock(self, name)

    def write(self, record: LeaseRecord) -> LeaseRecord:
        """Store unconditionally (what another writer, e.g. kubectl, does)."""
        self._version += 1
        self.writes += 1
        self.record = dataclasses.replace(record, resource_version=str(self._version))
        return self.record


class MemoryLeaseLock:
    """One replica's client. ``unreachable`` raises OSError on every call; ``hang`` never answers;
    ``before_update`` runs between this client's read and its write (to lose a race on purpose)."""

    def __init__(self, store: MemoryLeaseStore, description: str) -> None:
        self._store = store
        self.description = description
        self.unreachable = False
        self.hang = False
        self.before_update: Callable[[], None] | None = None

    async def _call(self) -> None:
        if self.unreachable:
            raise OSError("connection refused")
        if self.hang:
            await asyncio.Event().wait()

    async def get(self) -> LeaseRecord | None:
        await self._call()
        return self._store.record

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        await self._call()
        if self._store.record is not None:
            raise LeaseConflict("exists")
        return self._store.write(record)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        await self._call()
        if self.before_update is not None:
            hook, self.before_update = self.before_update, None
            hook()
        current = self._store.record
        if current is None:
            raise OSError("404: lease not found")
        if record.resource_version != current.resource_version:
            raise LeaseConflict("409")
        return self._store.write(record)
