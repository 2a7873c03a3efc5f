"""Where new prompt content went recently: per endpoint, the blocks a routed request brought that the endpoint
did not hold, halved every ``half_life_blocks`` placed pool-wide (caches evict what is not used, everywhere
alike). A new prefix goes where the least new content went, so distinct shared contexts spread over the
caches instead of piling onto whichever replica looks least busy at that instant. Used by
``prefix-spill-scorer`` and ``precise-prefix-cache-scorer`` for prefixes no endpoint holds.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from picker.framework.types import EndpointState


class PlacementFootprint:
    def __init__(self, half_life_blocks: float) -> None:
        if half_life_blocks <= 0:
            raise ValueError(f"half_life_blocks must be > 0, got {half_life_blocks}")
        self._half_life = half_life_blocks
        self._blocks: dict[str, float] = {}

    def get(self, endpoint_name: str) -> float:
        """Recent new blocks placed on ``endpoint_name`` (decayed)."""
        return self._blocks.get(endpoint_name, 0.0)

    def scores(self, endpoints: Sequence[EndpointState], request_blocks: int, weight: float) -> list[float]:
        """``weight x (min_c f_c + n) / (f_e + n)``: a ratio, not min-max, so footprints a fraction of one
        request (``n`` blocks) apart score nearly alike and load decides between them."""
        if weight == 0.0:
            return [0.0] * len(endpoints)
        loads = [self._blocks.get(state.endpoint.name, 0.0) + request_blocks for state in endpoints]
        lightest = min(loads)
        return [weight * lightest / load for load in loads]

    def place(self, endpoint_name: str, new_blocks: int) -> None:
        if new_blocks <= 0:
            return
        decay = 0.5 ** (new_blocks / self._half_life)
        blocks = self._blocks
        for name in blocks:
            blocks[name] *= decay
        blocks[endpoint_name] = blocks.get(endpoint_name, 0.0) + new_blocks

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for name in [name for name in self._blocks if name not in live_endpoint_names]:
            del self._blocks[name]
