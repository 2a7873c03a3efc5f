"""Blocks the picker expects an endpoint to hold soon: a request was just routed there, and its server has
not published ``BlockStored`` yet (it stores blocks once the request is scheduled, after any queueing).

llm-d's ``speculativeIndexing``: without it, the next request of the same prefix, arriving before the
events, sees no holder and is placed anywhere, splitting the prefix over replicas. One entry per endpoint
and first block (the latest routed request's keys); entries expire after ``ttl_s``, by when the server's
own events say what it holds, and the server's removals cut them short at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence, Set

_Entry = tuple[float, tuple[int, ...]]  # (expiry, keys)


class SpeculativeIndex:
    def __init__(self, ttl_s: float, max_entries: int = 4096) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int], _Entry] = (
            OrderedDict()
        )  # (endpoint, first key), oldest first
        self._by_first_key: dict[int, dict[str, _Entry]] = {}

    def add(self, endpoint: str, keys: Sequence[int], now_s: float) -> None:
        if not keys:
            return
        self._expire(now_s)
        self._put(endpoint, (now_s + self._ttl_s, tuple(keys)))
        while len(self._entries) > self._max_entries:
            self._remove(next(iter(self._entries)))

    def longest_prefix(self, keys: Sequence[int], now_s: float) -> dict[str, int]:
        """Per endpoint, how many of ``keys`` it is expected to hold consecutively from the first."""
        candidates = self._by_first_key.get(keys[0]) if keys else None
        if not candidates:
            return {}
        request = tuple(keys)
        return {
            endpoint: _common_prefix(request, held)
            for endpoint, (expiry, held) in candidates.items()
            if expiry > now_s
        }

    def discard(self, endpoint: str, keys: Sequence[int]) -> None:
        """The server said it no longer holds these blocks: entries stop counting at the first of them."""
        if not keys:
            return
        removed = set(keys)
        for entry in [entry for entry in self._entries if entry[0] == endpoint]:
            expiry, held = self._entries[entry]
            cut = next((index for index, key in enumerate(held) if key in removed), None)
            if cut is None:
                continue
            self._remove(entry)
            if cut > 0:
                self._put(endpoint, (expiry, held[:cut]))

    def forget(self, endpoint: str) -> None:
        for entry in [entry for entry in self._entries if entry[0] == endpoint]:
            self._remove(entry)

    def prune(self, live_endpoints: Set[str]) -> None:
        for entry in [entry for entry in self._entries if entry[0] not in live_endpoints]:
            self._remove(entry)

    def _put(self, endpoint: str, value: _Entry) -> None:
        entry = (endpoint, value[1][0])
        self._entries.pop(entry, None)
        self._entries[entry] = value
        self._by_first_key.setdefault(entry[1], {})[endpoint] = value

    def _expire(self, now_s: float) -> None:
        while self._entries:
            entry, (expiry, _) = next(iter(self._entries.items()))
            if expiry > now_s:
                return
            self._remove(entry)

    def _remove(self, entry: tuple[str, int]) -> None:
        del self._entries[entry]
        endpoint, first_key = entry
        holders = self._by_first_key[first_key]
        del holders[endpoint]
        if not holders:
            del self._by_first_key[first_key]


def _common_prefix(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    """Length of the common prefix.

    Block keys are chained (a key stands for its whole prefix), so the first unequal position is found by
    bisection over single keys, then checked with one C-level slice comparison; inputs where equal keys
    do not mean equal prefixes fall back to bisection over slice comparisons.
    """
    high = min(len(left), len(right))
    low, top = 0, high
    while low < top:  # the longest run of equal keys at the end of the prefix, if keys are chained
        middle = (low + top + 1) // 2
        if left[middle - 1] == right[middle - 1]:
            low = middle
        else:
            top = middle - 1
    if (low == high or left[low] != right[low]) and left[:low] == right[:low]:
        return low
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if left[:middle] == right[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
