"""Where the tier sent each request, counted from its JSON access log: per client region the requests
kept local, spilled (capacity) and failed over (health), and failures; per region the requests it served."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from infgw.local.regions.tier_bootstrap import nearest_cluster, spill_cluster


@dataclass
class RegionTraffic:
    local: int = 0
    spilled: int = 0
    failed_over: int = 0
    failed: int = 0
    served: int = 0  # requests this region answered, from any client region


@dataclass
class TrafficLog:
    """``update()`` reads the lines Envoy appended since the last call."""

    path: Path
    regions: tuple[str, ...]
    traffic: dict[str, RegionTraffic] = field(default_factory=dict)
    malformed: int = 0
    _offset: int = 0
    _partial: str = ""

    def __post_init__(self) -> None:
        self.traffic = {region: RegionTraffic() for region in self.regions}

    def update(self) -> dict[str, RegionTraffic]:
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as log:
                log.seek(self._offset)
                text = log.read()
                self._offset = log.tell()
        except FileNotFoundError:
            return self.traffic
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self._count(line)
        return self.traffic

    def _count(self, line: str) -> None:
        try:
            entry = json.loads(line)
            route, served, status = str(entry["route"]), str(entry["served_region"]), int(entry["status"])
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            return
        client = next((r for r in self.regions if route in (nearest_cluster(r), spill_cluster(r))), None)
        if client is None:
            self.malformed += 1
            return
        counts = self.traffic[client]
        if status == 0 or status >= 500:
            counts.failed += 1
            return
        if served in self.traffic:
            self.traffic[served].served += 1
        if served == client:
            counts.local += 1
        elif route == spill_cluster(client):
            counts.spilled += 1
        else:
            counts.failed_over += 1
