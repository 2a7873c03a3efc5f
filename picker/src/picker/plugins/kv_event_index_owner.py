"""What a plugin that owns a :class:`~picker.plugins.kv_event_prefix_index.KVEventPrefixIndex` forwards to it:
pool changes (``PoolWatcher``) and the event subscription loop (``BackgroundPlugin``).

``precise-prefix-cache-producer`` and the deprecated ``precise-prefix-cache-scorer`` both own one."""

from __future__ import annotations

from collections.abc import Sequence

from picker.framework.types import Endpoint
from picker.plugins.kv_event_prefix_index import KVEventPrefixIndex


class KVEventIndexOwner:
    events: KVEventPrefixIndex

    def endpoints_changed(self, added: Sequence[Endpoint], removed: Sequence[str]) -> None:
        self.events.endpoints_changed(added, removed)

    async def run_in_background(self) -> None:
        await self.events.run()
