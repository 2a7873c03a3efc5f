"""The KV demand of the prefix groups each endpoint serves now, from the placements made recently.

Per endpoint, ``D_e`` = the distinct block keys among the first blocks of the requests placed there in the last
``activeWindowS`` seconds (this decider's placements and its siblings'), on the injected clock: requests of one
prefix group share their leading blocks, so each active group counts its blocks once, whatever its request
rate. It is what the endpoint would have to hold at once to serve every group it was given without
recomputing one; against the endpoint's block count ``B_e`` (``vllm:cache_config_info``'s ``num_gpu_blocks``,
scraped) it says whether one more group of ``n`` blocks fits beside them: ``D_e + n <= maxDemandShare x B_e``.

Used by ``precise-prefix-cache-scorer`` (``groupCap``) when a group is first placed (a prefix no endpoint holds
and nothing was routed for): the endpoints it fits beside their groups score
``coldPlacementWeight x min_c s_c / s_e`` with ``s_e = (D_e + n) / B_e``, the others 0; where it fits nowhere,
every endpoint scores that ratio (the least loaded relative to its cache wins, load decides between near-equals).
Once placed, routing history and the KV events keep a group where it is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence, Set

from pydantic import Field

from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState

# Keys remembered per endpoint (16M tokens at 16 per block): bounds an endpoint's memory at any request rate.
_KEYS_PER_ENDPOINT = 1 << 20


class GroupCapParameters(PluginParameters):
    active_window_s: float = Field(
        default=10.0,
        gt=0.0,
        alias="activeWindowS",
        description="a group placed on an endpoint within this many seconds counts as active there",
    )
    max_demand_share: float = Field(
        default=1.0,
        gt=0.0,
        description="share of an endpoint's KV blocks its active groups may demand before it counts as full",
    )


class ActiveGroupDemand:
    def __init__(self, parameters: GroupCapParameters) -> None:
        self._window_s = parameters.active_window_s
        self._max_share = parameters.max_demand_share
        # endpoint -> block key -> when last placed there, oldest first.
        self._keys: dict[str, OrderedDict[int, float]] = {}

    def add(self, endpoint_name: str, keys: Sequence[int], now_s: float) -> None:
        """A request whose leading blocks are ``keys`` was placed on ``endpoint_name``."""
        placed = self._keys.get(endpoint_name)
        if placed is None:
            placed = self._keys[endpoint_name] = OrderedDict()
        for key in keys:
            placed[key] = now_s
            placed.move_to_end(key)
        while len(placed) > _KEYS_PER_ENDPOINT:
            placed.popitem(last=False)

    def demand(self, endpoint_name: str, now_s: float) -> int:
        """``D_e``: distinct blocks placed on ``endpoint_name`` within the window."""
        placed = self._keys.get(endpoint_name)
        if not placed:
            return 0
        horizon = now_s - self._window_s
        while placed and next(iter(placed.values())) < horizon:
            placed.popitem(last=False)
        return len(placed)

    def shares(self, endpoints: Sequence[EndpointState], keys: Sequence[int], now_s: float) -> list[float] | None:
        """Per endpoint ``s_e = (D_e + n_e) / B_e``, ``n_e`` the request's leading blocks ``keys`` not placed on
        it within the window (a group active there already adds nothing); None when some endpoint's block
        count is unknown (not scraped yet, or its server does not report ``num_gpu_blocks``)."""
        shares: list[float] = []
        for state in endpoints:
            metrics = state.metrics
            if metrics is None or not metrics.num_gpu_blocks:
                return None
            demand = self.demand(state.endpoint.name, now_s)
            placed = self._keys.get(state.endpoint.name)
            new = sum(1 for key in keys if key not in placed) if placed else len(keys)
            shares.append((demand + new) / metrics.num_gpu_blocks)
        return shares

    def scores(
        self, endpoints: Sequence[EndpointState], keys: Sequence[int], weight: float, now_s: float
    ) -> list[float] | None:
        """Scores for placing a group whose leading blocks are ``keys``: ``weight x min_c s_c / s_e`` on the
        endpoints it fits (``s_e <= maxDemandShare``), 0 on the others; on every endpoint when it fits nowhere.
        None when :meth:`shares` is."""
        shares = self.shares(endpoints, keys, now_s)
        if not shares:
            return shares
        fits = [share <= self._max_share for share in shares]
        least = min(shares)
        if any(fits):
            return [weight * least / share if fit else 0.0 for share, fit in zip(shares, fits, strict=True)]
        return [weight * least / share for share in shares]

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for name in [name for name in self._keys if name not in live_endpoint_names]:
            del self._keys[name]
