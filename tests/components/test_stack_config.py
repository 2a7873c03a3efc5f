"""StackConfig: valid stacks load; every bad stack yields exact one-line problems naming key and fix."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, ConfigProblem, StackConfig, exit_on_config_error, load_stack_config
from components.config.sources import RawStackConfig

PROJECT = "gke-inference-gateway"
BASE: dict[str, Any] = {
    "gcp:project": "my-inference-project",
    f"{PROJECT}:fleet": {"configCluster": "gke-west"},
    f"{PROJECT}:regions": {
        "gke-west": {
            "region": "europe-west3",
            "zone": "europe-west3-c",
            "proxySubnetCidr": "10.0.0.0/23",
            "gpuPool": {"machineType": "a3-highgpu-2g", "acceleratorCount": 2, "nodeCount": 3},
        },
        "gke-east": {"region": "us-east4", "zone": "us-east4-a", "proxySubnetCidr": "10.5.0.0/23"},
    },
}


def raw_with(*edits: tuple[str, Any]) -> RawStackConfig:
    """BASE with edits applied: ('regions.gke-east.zone', 'x') sets, (path, DELETE) removes."""
    values = copy.deepcopy(BASE)
    for path, value in edits:
        top, *rest = path.split(".")
        full_key = top if ":" in top else f"{PROJECT}:{top}"
        if not rest:
            if value is DELETE:
                values.pop(full_key, None)
            else:
                values[full_key] = value
            continue
        node = values.setdefault(full_key, {})
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(rest[-1], None)
        else:
            node[rest[-1]] = value
    return RawStackConfig(project=PROJECT, values=values, source="test")


DELETE = object()
WEST_ZONES = "europe-west3-a, europe-west3-b, europe-west3-c"

BAD_CONFIGS: list[tuple[str, list[tuple[str, Any]], list[str]]] = [
    (
        "missing project",
        [("gcp:project", DELETE)],
        ["gcp:project: missing; set it with `pulumi config set gcp:project <PROJECT_ID>`"],
    ),
    (
        "project name instead of id",
        [("gcp:project", "My Project")],
        [
            "gcp:project: 'My Project' is not a GCP project id (6-30 lowercase letters, digits, hyphens); use the id, not the name"
        ],
    ),
    (
        "no regions",
        [("regions", {}), ("fleet", {})],
        [
            "regions: no regions; add one, e.g. regions.gke-west: {region: europe-west3, zone: europe-west3-c, "
            "proxySubnetCidr: 10.0.0.0/23}"
        ],
    ),
    (
        "region key not a cluster name",
        [("regions.GKE_3", {"region": "us-west1", "zone": "us-west1-a", "proxySubnetCidr": "10.9.0.0/23"})],
        [
            "regions.GKE_3: a region key names its cluster: lowercase letters, digits and '-', starting with a letter, "
            "at most 24 characters (e.g. gke-west)"
        ],
    ),
    (
        "unknown region",
        [("regions.gke-east.region", "us-east44"), ("regions.gke-east.zone", "us-east44-a")],
        [
            "regions.gke-east.region: unknown GCP region 'us-east44'; did you mean us-east4, us-west4, us-east5?"
        ],
    ),
    (
        "zone outside its region",
        [("regions.gke-west.zone", "us-east4-a")],
        [
            f"regions.gke-west.zone: 'us-east4-a' is in region 'us-east4', not in 'europe-west3'; use one of {WEST_ZONES}"
        ],
    ),
    (
        "zone that does not exist",
        [("regions.gke-west.zone", "europe-west3-z")],
        [
            f"regions.gke-west.zone: 'europe-west3-z' is not a known zone, not in 'europe-west3'; use one of {WEST_ZONES}"
        ],
    ),
    (
        "malformed CIDR",
        [("regions.gke-west.proxySubnetCidr", "10.0.0/23")],
        ["regions.gke-west.proxySubnetCidr: '10.0.0/23' is not a CIDR range; write it like 10.0.0.0/23"],
    ),
    (
        "CIDR with host bits",
        [("regions.gke-west.proxySubnetCidr", "10.0.1.0/23")],
        ["regions.gke-west.proxySubnetCidr: 10.0.1.0/23 has host bits set; use 10.0.0.0/23"],
    ),
    (
        "public CIDR",
        [("regions.gke-west.proxySubnetCidr", "8.8.8.0/24")],
        [
            "regions.gke-west.proxySubnetCidr: 8.8.8.0/24 must be a private IPv4 range (RFC 1918), e.g. 10.0.0.0/23"
        ],
    ),
    (
        "proxy subnet too small",
        [("regions.gke-west.proxySubnetCidr", "10.0.0.0/28")],
        [
            "regions.gke-west.proxySubnetCidr: /28 is too small for a proxy-only subnet; use /26 or larger (/23 recommended)"
        ],
    ),
    (
        "overlapping proxy subnets",
        [("regions.gke-east.proxySubnetCidr", "10.0.0.0/22")],
        [
            "regions.gke-east.proxySubnetCidr: 10.0.0.0/22 overlaps regions.gke-west.proxySubnetCidr (10.0.0.0/23); "
            "pick a free range such as 10.0.4.0/22"
        ],
    ),
    (
        "pods range overlapping another region's proxy subnet",
        [("regions.gke-east.podsCidr", "10.4.0.0/14")],
        [
            "regions.gke-east.podsCidr: 10.4.0.0/14 overlaps regions.gke-east.proxySubnetCidr (10.5.0.0/23); "
            "pick a free range such as 10.8.0.0/14"
        ],
    ),
    (
        "range inside the default network's auto-mode subnets",
        [("regions.gke-east.proxySubnetCidr", "10.130.0.0/23")],
        [
            "regions.gke-east.proxySubnetCidr: 10.130.0.0/23 overlaps 10.128.0.0/9, where the default network's "
            "auto-mode subnets live; pick a free range such as 10.0.2.0/23"
        ],
    ),
    (
        "two clusters in one region",
        [("regions.gke-east.region", "europe-west3"), ("regions.gke-east.zone", "europe-west3-a")],
        [
            "regions.gke-east.region: europe-west3 is already used by regions.gke-west; a VPC has one proxy-only subnet "
            "per region, so give each cluster its own region"
        ],
    ),
    (
        "config cluster not among the regions",
        [("fleet.configCluster", "gke-north")],
        ["fleet.configCluster: 'gke-north' is not among the regions; use one of gke-west, gke-east"],
    ),
    (
        "two regions without a fleet",
        [("fleet", {})],
        ["fleet.configCluster: 2 regions need a fleet; set fleet.configCluster to one of gke-west, gke-east"],
    ),
    (
        "multi-cluster GKE version too old",
        [("gkeVersion", "1.33.5-gke.1000")],
        [
            "gkeVersion: 1.33.5-gke.1000 is below 1.34.1-gke.1127000, the minimum for the multi-cluster Inference "
            "Gateway; set gkeVersion: 1.34.1-gke.1127000 or later"
        ],
    ),
    (
        "single-cluster GKE version too old",
        [("regions.gke-east", DELETE), ("fleet", {}), ("gkeVersion", "1.32.2")],
        [
            "gkeVersion: 1.32.2 is below 1.32.3, the minimum for the single-cluster Inference Gateway; "
            "set gkeVersion: 1.32.3 or later"
        ],
    ),
    (
        "malformed GKE version",
        [("gkeVersion", "latest")],
        ["gkeVersion: 'latest' is not a GKE version; use MAJOR.MINOR.PATCH-gke.N such as 1.34.1-gke.1127000"],
    ),
    (
        "machine type with the wrong GPU count",
        [("regions.gke-west.gpuPool.machineType", "a3-highgpu-4g")],
        [
            "regions.gke-west.gpuPool.acceleratorCount: a3-highgpu-4g carries 4 x nvidia-h100-80gb, not 2; "
            "set acceleratorCount: 4, or machineType: a3-highgpu-2g for 2 GPUs"
        ],
    ),
    (
        "machine type with the wrong GPU type",
        [("regions.gke-west.gpuPool.acceleratorType", "nvidia-l4")],
        [
            "regions.gke-west.gpuPool.acceleratorType: a3-highgpu-2g carries nvidia-h100-80gb, not nvidia-l4; "
            "set acceleratorType: nvidia-h100-80gb"
        ],
    ),
    (
        "unknown GPU machine type",
        [("regions.gke-west.gpuPool.machineType", "n2-standard-8")],
        [
            "regions.gke-west.gpuPool.machineType: 'n2-standard-8' is not a known GPU machine type; use one of "
            "a2-highgpu-*, a2-megagpu-*, a2-ultragpu-*, a3-highgpu-*, a3-megagpu-*, a3-ultragpu-*, g2-standard-*"
        ],
    ),
    (
        "GPU pool without nodes",
        [("regions.gke-west.gpuPool.nodeCount", 0)],
        [
            "regions.gke-west.gpuPool.nodeCount: must be at least 1, got 0; a region without GPU nodes serves nothing"
        ],
    ),
    (
        "system pool without nodes",
        [("regions.gke-east.systemPool", {"nodeCount": 0})],
        [
            "regions.gke-east.systemPool.nodeCount: must be at least 1, got 0; the picker and system pods need a CPU node"
        ],
    ),
    (
        "misspelled nested key",
        [("regions.gke-east.systemPool", {"machineTyp": "e2-standard-4"})],
        [
            "regions.gke-east.systemPool.machineTyp: unknown key; known keys here: machineType, nodeCount, diskType, diskSizeGb"
        ],
    ),
    (
        "node count that is not a number",
        [("regions.gke-west.gpuPool.nodeCount", "three")],
        [
            "regions.gke-west.gpuPool.nodeCount: Input should be a valid integer, unable to parse string as an integer (got 'three')"
        ],
    ),
    (
        "unknown release channel",
        [("releaseChannel", "FAST")],
        ["releaseChannel: Input should be 'RAPID', 'REGULAR', 'STABLE' or 'EXTENDED' (got 'FAST')"],
    ),
    (
        "missing zone",
        [("regions.gke-east.zone", DELETE)],
        ["regions.gke-east.zone: missing; this key is required (see docs/configuration.md)"],
    ),
]


@pytest.mark.parametrize(
    ("edits", "expected"), [case[1:] for case in BAD_CONFIGS], ids=[case[0] for case in BAD_CONFIGS]
)
def test_bad_config_names_key_and_fix(edits: list[tuple[str, Any]], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw_with(*edits))
    assert caught.value.report().splitlines() == expected


def test_misspelled_top_level_key_lists_the_known_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw_with(("regoins", {})))
    (problem,) = caught.value.problems
    assert problem.key == "regoins"
    assert problem.message.startswith(
        "unknown key; known keys here: regions, fleet, gkeVersion, releaseChannel, "
    )
    assert "project" not in problem.message.split(": ", 1)[1].split(
        ", "
    )  # gcp:project is not in this namespace


def test_every_problem_is_reported_in_one_run() -> None:
    """The acceptance case: overlapping CIDRs, a zone outside its region and an unknown config cluster."""
    raw = raw_with(
        ("regions.gke-east.proxySubnetCidr", "10.0.0.0/22"),
        ("regions.gke-west.zone", "us-east4-a"),
        ("fleet.configCluster", "gke-north"),
    )
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw)
    keys = [problem.key for problem in caught.value.problems]
    assert keys == ["regions.gke-west.zone", "fleet.configCluster", "regions.gke-east.proxySubnetCidr"]


def test_valid_base_config_has_multi_cluster_defaults() -> None:
    config = load_stack_config(raw_with())
    assert config.multi_cluster
    assert config.proxy_subnet_purpose == "GLOBAL_MANAGED_PROXY"
    assert config.min_gke_version == "1.34.1-gke.1127000"
    assert config.regions["gke-east"].gpu_pool.machine_type == "a3-highgpu-2g"
    assert config.regions["gke-east"].system_pool.node_count == 1
    assert config.hf_token is None


def test_single_region_without_fleet_is_single_cluster() -> None:
    config = load_stack_config(
        raw_with(("regions.gke-east", DELETE), ("fleet", {}), ("gkeVersion", "1.32.3-gke.100"))
    )
    assert not config.multi_cluster
    assert config.proxy_subnet_purpose == "REGIONAL_MANAGED_PROXY"


def test_engine_text_values_validate_like_file_values(
    engine_config: Callable[[dict[str, str], list[str]], None],
) -> None:
    """Under `pulumi up` config arrives as text (objects as JSON); it must validate like the stack file."""
    from components.config.sources import read_engine_config

    engine_values = {
        key: json.dumps(value) if isinstance(value, dict) else value for key, value in BASE.items()
    }
    engine_values[f"{PROJECT}:deletionProtection"] = "true"
    engine_values[f"{PROJECT}:hfToken"] = "hf_engine"
    engine_config(engine_values, [f"{PROJECT}:hfToken"])

    config = load_stack_config(read_engine_config(PROJECT, "dev"))
    assert config.deletion_protection is True
    assert config.hf_token is not None and config.hf_token.get_secret_value() == "hf_engine"
    assert config == load_stack_config(raw_with(("deletionProtection", True), ("hfToken", "hf_engine")))


def test_secret_token_is_kept_secret() -> None:
    config = load_stack_config(raw_with(("hfToken", "hf_abc")))
    assert config.hf_token is not None
    assert config.hf_token.get_secret_value() == "hf_abc"
    assert "hf_abc" not in repr(config)


@pytest.mark.parametrize("stack", ["dev", "single"])
def test_committed_stacks_are_valid(stack: str, repo_root: Path) -> None:
    config = load_stack_config(stack, repo_root)
    assert isinstance(config, StackConfig)


def test_dev_stack_is_seed_000(repo_root: Path) -> None:
    config = load_stack_config("dev", repo_root)
    assert config.fleet.config_cluster == "gke-west"
    west, east = config.regions["gke-west"], config.regions["gke-east"]
    assert (west.region, west.zone, west.proxy_subnet_cidr) == (
        "europe-west3",
        "europe-west3-c",
        "10.0.0.0/23",
    )
    assert (east.region, east.zone, east.proxy_subnet_cidr) == ("us-east4", "us-east4-a", "10.5.0.0/23")
    for region in (west, east):
        pool = region.gpu_pool
        assert (
            pool.machine_type,
            pool.accelerator_type,
            pool.accelerator_count,
            pool.spot,
            pool.node_count,
        ) == ("a3-highgpu-2g", "nvidia-h100-80gb", 2, True, 3)


def test_exit_on_config_error_prints_one_line_per_problem(capsys: pytest.CaptureFixture[str]) -> None:
    error = ConfigError([ConfigProblem("a.b", "fix a"), ConfigProblem("c", "fix c")])
    with pytest.raises(SystemExit) as exited:
        exit_on_config_error(error)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == ["a.b: fix a", "c: fix c"]
