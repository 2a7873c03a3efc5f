"""Location, GPU machine and GKE version facts the config validation relies on."""

from __future__ import annotations

import pytest

from components.gcp_locations import is_known_region, region_of_zone, zones_of
from components.gpu_machines import GPU_MACHINES, gpu_machine_problem
from policies.gke_versions import parse_gke_version, version_problem


@pytest.mark.parametrize(
    ("region", "zones"),
    [
        ("europe-west3", ("europe-west3-a", "europe-west3-b", "europe-west3-c")),
        ("us-central1", ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f")),
        ("us-east1", ("us-east1-b", "us-east1-c", "us-east1-d")),
        ("mars-north1", ()),
    ],
)
def test_zones_of(region: str, zones: tuple[str, ...]) -> None:
    assert zones_of(region) == zones
    assert is_known_region(region) == bool(zones)


def test_region_of_zone() -> None:
    assert region_of_zone("europe-west3-c") == "europe-west3"
    assert region_of_zone("nonsense") == ""


@pytest.mark.parametrize(
    ("machine", "count"),
    [("a3-highgpu-1g", 1), ("a3-highgpu-2g", 2), ("a3-highgpu-4g", 4), ("a3-highgpu-8g", 8)],
)
def test_a3_high_carries_h100s(machine: str, count: int) -> None:
    assert GPU_MACHINES[machine].accelerator_type == "nvidia-h100-80gb"
    assert GPU_MACHINES[machine].accelerator_count == count
    assert gpu_machine_problem(machine, "nvidia-h100-80gb", count) is None


@pytest.mark.parametrize(
    ("version", "parsed"),
    [
        ("1.34.1-gke.1127000", (1, 34, 1, 1127000)),
        ("1.32.3", (1, 32, 3, 0)),
        ("1.33", (1, 33, 0, 0)),
        ("latest", None),
    ],
)
def test_parse_gke_version(version: str, parsed: tuple[int, ...] | None) -> None:
    assert parse_gke_version(version) == parsed


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("1.34.1-gke.1127000", True),
        ("1.34.1-gke.1126999", False),
        ("1.34.2", True),
        ("1.35.0-gke.1", True),
        ("1.33.9", False),
    ],
)
def test_multi_cluster_minimum(version: str, ok: bool) -> None:
    assert (version_problem(version, "1.34.1-gke.1127000", "multi-cluster") is None) == ok
