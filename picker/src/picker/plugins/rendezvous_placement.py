"""Where a prefix nobody holds goes, decided alike by every picker process that sees the same state.

Rendezvous (highest-random-weight) hashing: each candidate's weight is ``xxh64(placement key, seed =
xxh64(endpoint name))``; the highest weight among the candidates that are not vetoed wins. The placement key
is the request's first block no endpoint holds by the KV events (the first block of a new conversation
group, or of the group's own context after a prompt every group shares), so

- two picker processes (worker processes, or active-active replicas) that receive a new group's first
  requests before its server has published any event send them to the same endpoint, without talking:
  the inputs are the request, the endpoint names and the event-built index, which every subscriber builds
  alike;
- the next turns of a group agree with its first: their first unheld block is the same one;
- adding or removing an endpoint moves only the prefixes that hash highest to it (about 1/N of them).

Balance and load veto only: a candidate that stored more than half the request's new blocks above the
lightest candidate recently (by its events: ``StoredFootprint``), or that is saturated (the caller's rule on
scraped metrics, e.g. the spill rule) while some candidate is not, is skipped, and the next in the prefix's
rendezvous order takes it, which every process computes alike too. Used by ``precise-prefix-cache-scorer``
with ``coldPlacement: rendezvous``.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from xxhash import xxh64_intdigest


class RendezvousPlacement:
    def __init__(self) -> None:
        self._seeds: dict[str, int] = {}  # endpoint name -> its hash seed (names are stable per endpoint)

    def choose(
        self,
        key: int,
        names: Sequence[str],
        recent_blocks: Sequence[float],
        request_blocks: int,
        hot: Sequence[bool],
    ) -> int:
        """Index into ``names`` of the endpoint ``key`` goes to: the highest rendezvous weight among the
        candidates not ``hot`` (all when every one is) whose ``recent_blocks`` (blocks stored recently) are
        at most half of ``request_blocks`` (the request's new blocks) above the lightest such candidate's."""
        if not names:
            raise ValueError("no candidates to place on")
        allowed = [index for index, is_hot in enumerate(hot) if not is_hot] or list(range(len(names)))
        ceiling = min(recent_blocks[index] for index in allowed) + request_blocks / 2
        packed = key.to_bytes(8, "little")
        best, best_weight = -1, -1
        for index in allowed:
            if recent_blocks[index] > ceiling:
                continue
            weight = xxh64_intdigest(packed, self._seed(names[index]))
            # Ties (a 2**-64 chance) go to the smaller name, so the order of the candidates never matters.
            if weight > best_weight or (weight == best_weight and names[index] < names[best]):
                best, best_weight = index, weight
        return best

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for name in [name for name in self._seeds if name not in live_endpoint_names]:
            del self._seeds[name]

    def _seed(self, name: str) -> int:
        seed = self._seeds.get(name)
        if seed is None:
            seed = self._seeds[name] = xxh64_intdigest(name.encode())
        return seed


def first_unheld_block(keys: Sequence[int], longest_held: int) -> int:
    """The placement key of a request whose first ``longest_held`` blocks some endpoint holds (by events):
    its first block beyond them (its last block when every one is held)."""
    if not keys:
        raise ValueError("a request without blocks has no placement key")
    return keys[min(longest_held, len(keys) - 1)]
