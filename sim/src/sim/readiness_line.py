"""The one line the simulator prints on stdout once it listens: a JSON object naming its port (and its
KV-event publisher's endpoints), so whatever started it on port 0 reads them back (``infgw.launch``
parses it). Anything that stands in for a replica announces itself with the same line."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class SimReadinessLine(BaseModel):
    """``{"event": "listening", "url": ..., "port": ..., "name": ...}`` plus the publisher's endpoints when
    the replica publishes KV events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Literal["listening"] = "listening"
    url: str
    port: int
    name: str
    kv_events_endpoint: str | None = None
    kv_events_replay_endpoint: str | None = None

    def render(self) -> str:
        return self.model_dump_json(exclude_none=True)
