"""GPU LoRA slots: at most ``max_loras`` adapters resident at once, each taking ``load_s`` to load."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Set


class LoraSlots:
    """Resident adapters, least recently used first.

    An adapter stays until its slot is needed by another one and no running sequence needs it; only fully
    loaded adapters are evicted.
    """

    def __init__(self, max_loras: int, load_s: float) -> None:
        self.max_loras = max_loras
        self.load_s = load_s
        self._ready_at_s: OrderedDict[str, float] = OrderedDict()
        self.loads = 0

    def is_ready(self, lora_name: str, now_s: float) -> bool:
        ready_at_s = self._ready_at_s.get(lora_name)
        return ready_at_s is not None and ready_at_s <= now_s

    def request(self, lora_name: str, now_s: float, in_use: Set[str]) -> float | None:
        """Make ``lora_name`` resident (starting a load if needed); return when it is ready, or None."""
        if lora_name in self._ready_at_s:
            return self._ready_at_s[lora_name]
        if len(self._ready_at_s) >= self.max_loras:
            # Evict only an adapter that is fully loaded and that nothing running or queued ahead needs.
            idle = next(
                (
                    name
                    for name, ready_s in self._ready_at_s.items()
                    if name not in in_use and ready_s <= now_s
                ),
                None,
            )
            if idle is None:
                return None
            del self._ready_at_s[idle]
        self._ready_at_s[lora_name] = now_s + self.load_s
        self.loads += 1
        return self._ready_at_s[lora_name]

    def touch(self, lora_name: str) -> None:
        self._ready_at_s.move_to_end(lora_name)

    def next_ready_after(self, now_s: float) -> float | None:
        pending = [ready_at_s for ready_at_s in self._ready_at_s.values() if ready_at_s > now_s]
        return min(pending, default=None)

    def resident(self) -> list[str]:
        return list(self._ready_at_s)
