"""Where each prefix group was served: the placement a router chose, independent of how fast it ran."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from bench.driver.record import RequestRecord


def replicas_per_group(records: Iterable[RequestRecord]) -> dict[str, dict[str, int]]:
    """For each prefix group, how many of its successful requests each replica served."""
    served: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        if record.ok and record.prefix_group:
            served[record.prefix_group][record.served_by or "unknown"] += 1
    return {group: dict(sorted(counts.items())) for group, counts in sorted(served.items())}


def mean_replicas_per_shared_group(spread: Mapping[str, Mapping[str, int]]) -> float | None:
    """Mean number of replicas that served a group, over groups with at least two requests.

    1.0 means every shared context stayed on one replica (each is computed once); the replica count
    means it was sprayed everywhere. None when no group repeats (nothing was shared).
    """
    shared = [len(counts) for counts in spread.values() if sum(counts.values()) >= 2]
    return sum(shared) / len(shared) if shared else None


__all__ = ["mean_replicas_per_shared_group", "replicas_per_group"]
