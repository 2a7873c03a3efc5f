"""--workers auto: the cgroup CPU limit, else the affinity, whichever is lower, rounded up, at least 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from picker.workers.cpu_limit import available_cpus, cgroup_cpu_limit


@pytest.mark.parametrize(
    ("cpu_max", "affinity", "expected"),
    [
        ("max 100000", 8, 8),  # no limit: the affinity
        ("200000 100000", 8, 2),  # limits.cpu: 2
        ("150000 100000", 8, 2),  # 1.5 CPUs: two workers
        ("50000 100000", 8, 1),  # 500m: one
        ("400000 100000", 2, 2),  # a limit above the affinity: the affinity
    ],
)
def test_workers_follow_the_cpu_limit_then_the_affinity(tmp_path: Path, cpu_max, affinity, expected) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max + "\n")
    assert available_cpus(path, lambda: affinity) == expected


def test_no_cgroup_file_or_an_unreadable_one_means_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "missing") is None
    garbled = tmp_path / "cpu.max"
    garbled.write_text("lots 0")
    assert cgroup_cpu_limit(garbled) is None
    assert available_cpus(tmp_path / "missing", lambda: 3) == 3
