"""Capacity spill-over: how much of each client region's traffic stays in its own region.

Google's load balancer (WATERFALL_BY_REGION) sends a client's requests to the nearest region while that
region's reported utilization is under its capacity (CUSTOM_METRICS: ``maxUtilization``; IN_FLIGHT: the
in-flight capacity), and the overflow to the next region. How its control plane turns reports into
shares is not published; this controller does the documented thing with a proportional step: each
report moves a region's local share by ``gain * (target - utilization) / target``, so the share falls
while the region runs above its target and recovers while it runs below, and stops spilling more when
every other region is at or above its own target too (there is no capacity left to spill into).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DEFAULT_GAIN = 0.25


class SpillController:
    """Per client region, the share of its requests kept in-region (0..1); starts at 1 (all local)."""

    def __init__(self, regions: Sequence[str], target: float, *, gain: float = DEFAULT_GAIN) -> None:
        if not 0 < target:
            raise ValueError(f"target utilization must be above 0 (got {target})")
        self.regions = tuple(regions)
        self.target = target
        self.gain = gain
        self.shares: dict[str, float] = dict.fromkeys(self.regions, 1.0)

    def update(self, utilization: Mapping[str, float | None]) -> dict[str, float]:
        """One report per region (None: no endpoint reported, e.g. the region is down): new shares."""
        for region in self.regions:
            own = utilization.get(region)
            if own is None:
                continue  # no report: health checks, not capacity, decide about this region
            others = [utilization.get(other) for other in self.regions if other != region]
            room_elsewhere = any(value is not None and value < self.target for value in others)
            step = self.gain * (self.target - own) / self.target
            if step < 0 and not room_elsewhere:
                continue
            self.shares[region] = min(1.0, max(0.0, self.shares[region] + step))
        return dict(self.shares)
