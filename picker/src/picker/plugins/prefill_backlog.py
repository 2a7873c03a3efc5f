"""How long a request would wait for its first token on each endpoint, from what this picker process routed.

Per endpoint, the prompt tokens routed there that the endpoint did not hold (by the KV events, when routed)
form a queue the server prefills at ``peakPrefillThroughput`` tokens per second, measured on the injected
clock: ``B_e(t) = max(0, B_e(t0) - rate x (t - t0))`` plus each routed request's uncached tokens. A request's
estimated time to first token there is ``(B_e + u_e) / rate``, ``u_e`` its own tokens the endpoint does not
hold. Used by ``precise-prefix-cache-scorer`` (``prefillBacklog``): a prefix nobody holds does not go where
routing history put it when that endpoint would answer more than ``maxTTFTPenaltyMs`` after the soonest.

The estimate counts this process's requests only (another picker process's are not in it) and assumes the
configured rate; it does not see decode work or KV blocks held by running requests.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from pydantic import Field

from picker.framework.registry import PluginParameters


class PrefillBacklogParameters(PluginParameters):
    peak_prefill_throughput: float = Field(
        default=15928.0, gt=0.0, description="prompt tokens per second one endpoint prefills"
    )
    max_ttft_penalty_ms: float = Field(
        default=150.0,
        ge=0.0,
        alias="maxTTFTPenaltyMs",
        description="estimated TTFT affinity may cost against the endpoint that would answer first",
    )


class PrefillBacklog:
    def __init__(self, parameters: PrefillBacklogParameters) -> None:
        self._rate = parameters.peak_prefill_throughput
        self._margin_tokens = parameters.max_ttft_penalty_ms / 1000.0 * parameters.peak_prefill_throughput
        self._queued: dict[str, tuple[float, float]] = {}  # endpoint -> (tokens, at)

    def tokens(self, endpoint_name: str, now_s: float) -> float:
        """Routed tokens ``endpoint_name`` has not prefilled yet, by the fluid estimate."""
        queued, at_s = self._queued.get(endpoint_name, (0.0, now_s))
        left = queued - self._rate * (now_s - at_s)
        return left if left > 0.0 else 0.0

    def add(self, endpoint_name: str, uncached_tokens: int, now_s: float) -> None:
        if uncached_tokens > 0:
            self._queued[endpoint_name] = (self.tokens(endpoint_name, now_s) + uncached_tokens, now_s)

    def yield_affinity(
        self, scores: Sequence[float], names: Sequence[str], uncached_tokens: Sequence[int], now_s: float
    ) -> list[float]:
        """``scores`` unless an endpoint with the top score would answer more than the penalty later than the
        endpoint that would answer first; then every such endpoint scores 0, the others keep their score, and
        when none is left positive the endpoints that would answer first score 1."""
        scores = list(scores)
        top = max(scores, default=0.0)
        if top <= 0.0:
            return scores
        costs = [self.tokens(name, now_s) + tokens for name, tokens in zip(names, uncached_tokens, strict=True)]
        first = min(costs)
        late = [cost > first + self._margin_tokens for cost in costs]
        if not any(is_late and score == top for is_late, score in zip(late, scores, strict=True)):
            return scores
        kept = [0.0 if is_late else score for is_late, score in zip(late, scores, strict=True)]
        if max(kept) > 0.0:
            return kept
        return [1.0 if cost == first else 0.0 for cost in costs]

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for name in [name for name in self._queued if name not in live_endpoint_names]:
            del self._queued[name]
