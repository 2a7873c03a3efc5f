"""What each sibling decider last reported holding in flight per endpoint, summed into this decider's tracker.

Siblings report absolute counts, not deltas (picker.placements.wire, ``InFlightReport``): a report lost on the
way is corrected by the next, and a sibling's periodic snapshot replaces everything it reported before. A
sibling not heard from for ``ttl_s`` (it died, or its datagrams stopped arriving) has its counts dropped by
:meth:`SiblingInFlight.expire`, so a dead sibling's requests do not weigh on an endpoint for ever. Reports
carry the sender's sequence number; one older than the last applied from that sender (reordered on the
network) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from picker.framework.in_flight import InFlightTracker
from picker.placements.wire import InFlightReport


@dataclass(slots=True)
class _Sibling:
    heard_s: float
    sequence: int
    counts: dict[str, int] = field(default_factory=dict)


class SiblingInFlight:
    def __init__(self, tracker: InFlightTracker, ttl_s: float) -> None:
        self._tracker = tracker
        self._ttl_s = ttl_s
        self._siblings: dict[bytes, _Sibling] = {}
        self._totals: dict[str, int] = {}  # per endpoint, summed over siblings

    def apply(self, sender: bytes, sequence: int, report: InFlightReport, now_s: float) -> bool:
        """Apply ``sender``'s report; False if it is older than the last one applied from it (ignored)."""
        sibling = self._siblings.get(sender)
        if sibling is None:
            sibling = self._siblings[sender] = _Sibling(now_s, sequence)
        elif sequence < sibling.sequence:
            return False
        sibling.heard_s, sibling.sequence = now_s, sequence
        if report.snapshot:
            for name in [name for name in sibling.counts if name not in report.counts]:
                self._set(sibling, name, 0)
        for name, count in report.counts.items():
            self._set(sibling, name, count)
        return True

    def expire(self, now_s: float) -> int:
        """Drop the counts of siblings not heard from for ``ttl_s``; how many siblings were dropped."""
        silent = [sender for sender, sibling in self._siblings.items() if now_s - sibling.heard_s > self._ttl_s]
        for sender in silent:
            sibling = self._siblings.pop(sender)
            for name in list(sibling.counts):
                self._set(sibling, name, 0)
        return len(silent)

    def siblings(self) -> int:
        """Siblings heard from within ``ttl_s`` (as of the last :meth:`expire`)."""
        return len(self._siblings)

    def _set(self, sibling: _Sibling, name: str, count: int) -> None:
        change = count - sibling.counts.get(name, 0)
        if change == 0:
            return
        if count > 0:
            sibling.counts[name] = count
        else:
            del sibling.counts[name]
        total = self._totals.get(name, 0) + change
        if total > 0:
            self._totals[name] = total
        else:
            self._totals.pop(name, None)
        self._tracker.set_siblings(name, total)
