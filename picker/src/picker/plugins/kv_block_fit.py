"""Whether a request's KV blocks fit on each endpoint now, from the scrape and the placements made since.

An endpoint's free blocks now: ``F_e = num_gpu_blocks_e x (1 - kv_cache_usage_e)`` from its last scrape
(``vllm:cache_config_info``'s ``num_gpu_blocks`` label and ``vllm:kv_cache_usage_perc``, which counts the
blocks running requests hold; cached blocks nobody references count as free, as vLLM counts them), less
``n + outputBlocks`` for every request placed there after that scrape (``n`` the new blocks it brought, by
this decider or a sibling's shared placement). A request of ``b`` prompt blocks fits on ``e`` when
``b + outputBlocks <= F_e``: every prompt block counts, cached or not (vLLM takes cached blocks nobody
references out of the free pool too, and which of them a running request references is not known here), so
"fits" errs towards "does not".

A vLLM scheduler admits the head of its waiting queue only when its blocks are free, and nothing overtakes
it; a request that does not fit waits for running requests to finish. Used by
``precise-prefix-cache-scorer`` (``kvBlockFit``): for a prefix nobody holds, where affinity points only at
endpoints it does not fit and some destination exists (an endpoint it fits with at most
``maxDestinationRequests`` requests running, waiting or placed since the scrape: by default an idle one, where
it starts at once), affinity moves to the destinations.
An endpoint without a block count (a server that does not report ``num_gpu_blocks``, or not scraped yet)
is never judged: the rule leaves it as it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence, Set

from pydantic import Field

from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState

# Placements kept per endpoint until a scrape counts them: bounded for an endpoint whose scrapes stopped.
_PLACED_CAPACITY = 1024


class KVBlockFitParameters(PluginParameters):
    output_blocks: int = Field(
        default=2, ge=0, description="blocks reserved per request beyond its prompt's (its output's)"
    )
    max_destination_requests: int | None = Field(
        default=0,
        ge=0,
        description="a request moves only to an endpoint it fits with at most this many requests running or "
        "waiting by the scrape plus placed since (0: idle ones; null: any it fits)",
    )


class KVBlockFit:
    def __init__(self, parameters: KVBlockFitParameters) -> None:
        self._output_blocks = parameters.output_blocks
        self._max_destination_requests = parameters.max_destination_requests
        # endpoint -> [(placed at, blocks it takes)], oldest first; dropped once a later scrape counts them.
        self._placed: dict[str, deque[tuple[float, int]]] = {}

    def add(self, endpoint_name: str, new_blocks: int, now_s: float) -> None:
        """A request was placed on ``endpoint_name`` bringing ``new_blocks`` blocks it did not hold."""
        placed = self._placed.get(endpoint_name)
        if placed is None:
            placed = self._placed[endpoint_name] = deque(maxlen=_PLACED_CAPACITY)
        placed.append((now_s, new_blocks + self._output_blocks))

    def free_blocks(self, state: EndpointState) -> float | None:
        """``F_e``: the endpoint's free blocks now by the estimate; None without a block count."""
        metrics = state.metrics
        if metrics is None or metrics.num_gpu_blocks is None:
            return None
        free = metrics.num_gpu_blocks * (1.0 - metrics.kv_cache_usage_ratio)
        placed = self._placed.get(state.endpoint.name)
        if placed:
            scraped_s = metrics.updated_at_s
            while placed and placed[0][0] <= scraped_s:
                placed.popleft()  # the scrape's usage has it (or it finished)
            free -= sum(blocks for _, blocks in placed)
        return free

    def fits(self, endpoints: Sequence[EndpointState], prompt_blocks: Sequence[int]) -> list[bool | None]:
        """Per endpoint: whether ``prompt_blocks`` (the request's blocks to take there) plus the output's fit
        now; None where the block count is unknown."""
        fits: list[bool | None] = []
        for state, blocks in zip(endpoints, prompt_blocks, strict=True):
            free = self.free_blocks(state)
            fits.append(None if free is None else blocks + self._output_blocks <= free)
        return fits

    def requests(self, state: EndpointState) -> int | None:
        """Requests running or waiting on the endpoint by its scrape plus those placed there since (call
        after :meth:`free_blocks`, which drops the placements the scrape counts); None before a scrape."""
        metrics = state.metrics
        if metrics is None:
            return None
        placed = self._placed.get(state.endpoint.name)
        return metrics.running_requests + metrics.waiting_queue_size + (len(placed) if placed else 0)

    def yield_affinity(
        self, scores: Sequence[float], endpoints: Sequence[EndpointState], prompt_blocks: Sequence[int]
    ) -> list[float]:
        """``scores`` unless every endpoint with the top score is known not to fit the request while some
        endpoint is a destination (fits it, with at most ``maxDestinationRequests`` requests): then every
        other endpoint scores 0, destinations keep their score, and when none is left positive destinations
        score 1 (load decides among them)."""
        scores = list(scores)
        top = max(scores, default=0.0)
        if top <= 0.0:
            return scores
        fits = self.fits(endpoints, prompt_blocks)
        if any(fit is not False for fit, score in zip(fits, scores, strict=True) if score == top):
            return scores  # the favourite fits, or is not judged
        limit = self._max_destination_requests
        destinations = [
            fit is True and (limit is None or (self.requests(state) or 0) <= limit)
            for fit, state in zip(fits, endpoints, strict=True)
        ]
        if not any(destinations):
            return scores  # it would wait (or queue) wherever it goes: affinity stays
        kept = [
            score if is_destination else 0.0
            for is_destination, score in zip(destinations, scores, strict=True)
        ]
        if max(kept) > 0.0:
            return kept
        return [1.0 if is_destination else 0.0 for is_destination in destinations]

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for name in [name for name in self._placed if name not in live_endpoint_names]:
            del self._placed[name]
