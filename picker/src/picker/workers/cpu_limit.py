"""How many CPUs this process may use: the cgroup v2 CPU limit (``cpu.max``, what a Kubernetes
``resources.limits.cpu`` becomes), else the CPU affinity (``os.sched_getaffinity``), whichever is lower."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


def cgroup_cpu_limit(cpu_max: Path = CGROUP_CPU_MAX) -> float | None:
    """``cpu.max`` as CPUs (``"150000 100000"`` is 1.5), or None without a limit (``max``) or a file."""
    try:
        quota, _, period = cpu_max.read_text(encoding="utf-8").strip().partition(" ")
    except OSError:
        return None
    if quota == "max" or not period:
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX, affinity: Callable[[], int] = _affinity) -> int:
    """Whole CPUs to size worker processes by: a fractional limit rounds up (1.5 CPUs serve 2 workers
    better than 1), and at least 1."""
    cpus = affinity()
    limit = cgroup_cpu_limit(cpu_max)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)
