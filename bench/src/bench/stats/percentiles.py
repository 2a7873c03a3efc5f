"""Order statistics used in every report (no numpy: the inputs are a few thousand samples).

The one percentile definition of the project: linear interpolation between the closest ranks (numpy's
default), so a p99 in docs/benchmarks.md, docs/reliability.md and picker/README.md means the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0 <= q <= 100) by linear interpolation between closest ranks.

    Matches numpy's default ("linear") method. Returns None for no samples, so a report can print
    "n/a" instead of a made-up zero.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    if not samples:
        return None
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentile_or_nan(samples: Sequence[float], q: float) -> float:
    """`percentile`, with NaN for no samples: for tables that format a number in every cell."""
    value = percentile(samples, q)
    return math.nan if value is None else value


def empirical_cdf(samples: Sequence[float]) -> tuple[list[float], list[float]]:
    """Sorted samples and their cumulative fractions (1/n .. 1), for CDF plots."""
    ordered = sorted(samples)
    n = len(ordered)
    return ordered, [(i + 1) / n for i in range(n)]
