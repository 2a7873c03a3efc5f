"""The storage a :class:`~picker.leadership.leader_elector.LeaderElector` competes over."""

from __future__ import annotations

from typing import Protocol

from picker.leadership.lease_record import LeaseRecord


class LeaseConflict(Exception):
    """Create or update lost the race: the Lease exists already, or changed since it was read (409)."""


class LeaseLock(Protocol):
    """Get, create and compare-and-swap one Lease."""

    @property
    def description(self) -> str:
        """``namespace/name`` for logs."""
        ...

    async def get(self) -> LeaseRecord | None:
        """The Lease as stored, or None if it does not exist."""
        ...

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease; raises LeaseConflict if it exists. Returns it with its resourceVersion."""
        ...

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        """Replace the Lease if its resourceVersion is still ``record.resource_version``, else raise
        LeaseConflict. Returns the stored record with its new resourceVersion."""
        ...
