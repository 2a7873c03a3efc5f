"""Blocks the picker expects an endpoint to hold soon: a request was just routed there, and its server has
not published ``BlockStored`` yet (it stores blocks once the request is scheduled, after any queueing).

llm-d's ``speculativeIndexing``: without it, the next request of the same prefix, arriving before the
events, sees no holder and is placed anywhere, splitting the prefix over replicas. Entries expire after
``ttl_s``; by then the server's own events say what it holds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence, Set


class SpeculativeIndex:
    def __init__(self, ttl_s: float, max_entries: int = 4096) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        # (endpoint, first key) -> (expiry, keys), oldest first; one entry per routed prefix and endpoint.
        self._entries: OrderedDict[tuple[str, int], tuple[float, tuple[int, ...]]] = OrderedDict()
        self._holders: dict[int, dict[str, float]] = {}

    def add(self, endpoint: str, keys: Sequence[int], now_s: float) -> None:
        if not keys:
            return
        self._expire(now_s)
        expiry = now_s + self._ttl_s
        entry = (endpoint, keys[0])
        self._entries.pop(entry, None)
        self._entries[entry] = (expiry, tuple(keys))
        for key in keys:
            self._holders.setdefault(key, {})[endpoint] = expiry
        while len(self._entries) > self._max_entries:
            self._drop(*self._entries.popitem(last=False))

    def longest_prefix(self, keys: Sequence[int], now_s: float) -> dict[str, int]:
        """Per endpoint, how many of ``keys`` it is expected to hold consecutively from the first."""
        first = self._holders.get(keys[0]) if keys else None
        if not first:
            return {}
        active = {endpoint for endpoint, expiry in first.items() if expiry > now_s}
        matched: dict[str, int] = {}
        index = 1
        for index in range(1, len(keys)):
            holders = self._holders.get(keys[index], {})
            for endpoint in [e for e in active if holders.get(e, 0.0) <= now_s]:
                matched[endpoint] = index
                active.discard(endpoint)
            if not active:
                break
        else:
            index = len(keys)
        for endpoint in active:
            matched[endpoint] = index
        return matched

    def discard(self, endpoint: str, keys: Sequence[int]) -> None:
        """The server said it no longer holds these blocks: they stop counting for it at once."""
        for key in keys:
            holders = self._holders.get(key)
            if holders is not None and holders.pop(endpoint, None) is not None and not holders:
                del self._holders[key]

    def forget(self, endpoint: str) -> None:
        for entry in [entry for entry in self._entries if entry[0] == endpoint]:
            self._drop(entry, self._entries.pop(entry))

    def prune(self, live_endpoints: Set[str]) -> None:
        for entry in [entry for entry in self._entries if entry[0] not in live_endpoints]:
            self._drop(entry, self._entries.pop(entry))

    def _expire(self, now_s: float) -> None:
        while self._entries:
            expiry = next(iter(self._entries.values()))[0]
            if expiry > now_s:
                return
            self._drop(*self._entries.popitem(last=False))

    def _drop(self, entry: tuple[str, int], value: tuple[float, tuple[int, ...]]) -> None:
        endpoint = entry[0]
        expiry, keys = value
        for key in keys:
            holders = self._holders.get(key)
            if holders is not None and holders.get(endpoint) == expiry:
                del holders[endpoint]
                if not holders:
                    del self._holders[key]
