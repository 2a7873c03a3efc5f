"""What a coordination.k8s.io/v1 Lease says about its holder, independent of the API that stores it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's spec plus the resourceVersion an update must match (optimistic concurrency)."""

    holder_identity: str
    lease_duration_s: int
    acquire_time: datetime.datetime | None = None
    renew_time: datetime.datetime | None = None
    lease_transitions: int = 0
    resource_version: str = ""

    @property
    def held(self) -> bool:
        """False once the holder released it (empty holder): anyone may take it at once."""
        return bool(self.holder_identity)
