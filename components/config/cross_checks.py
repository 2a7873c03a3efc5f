"""Checks across stack-config keys (regions against each other, the fleet, the GKE version, the services
against the clusters they run in). Each receives the top-level fields that validated and yields
(key path, message) pairs; it must tolerate missing fields, since the loader also runs it when other fields
failed, so one run reports every problem.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from components.config.base import KeyIssue
from components.config.services import GpuSupply, ServicesConfig, placement_problems
from policies.gke_versions import MULTI_CLUSTER_MIN_VERSION, SINGLE_CLUSTER_MIN_VERSION, version_problem

if TYPE_CHECKING:
    from components.config.stack import FleetConfig, RegionConfig

# Auto-mode VPCs (the `default` network) carve every region's subnet out of this range.
AUTO_MODE_SUBNETS = ipaddress.IPv4Network("10.128.0.0/9")

StackCheck = Callable[[Mapping[str, Any]], Iterator[KeyIssue]]


def _check_config_cluster(parts: Mapping[str, Any]) -> Iterator[KeyIssue]:
    regions: dict[str, RegionConfig | None] | None = parts.get("regions")
    fleet: FleetConfig | None = parts.get("fleet")
    if regions is None or fleet is None:
        return
    if fleet.config_cluster is not None and fleet.config_cluster not in regions:
        yield (
            ("fleet", "configCluster"),
            f"{fleet.config_cluster!r} is not among the regions; use one of {', '.join(regions)}",
        )
    if fleet.config_cluster is None and len(regions) > 1:
        yield (
            ("fleet", "configCluster"),
            f"{len(regions)} regions need a fleet; set fleet.configCluster to one of {', '.join(regions)}",
        )


def _check_duplicate_regions(parts: Mapping[str, Any]) -> Iterator[KeyIssue]:
    regions: dict[str, RegionConfig | None] | None = parts.get("regions")
    first_by_region: dict[str, str] = {}
    for key, region in (regions or {}).items():
        if region is None or "region" not in region.model_fields_set:
            continue
        if region.region in first_by_region:
            yield (
                ("regions", key, "region"),
                f"{region.region} is already used by regions.{first_by_region[region.region]}; a VPC has one "
                "proxy-only subnet per region, so give each cluster its own region",
            )
        else:
            first_by_region[region.region] = key


def _cidr_fields(
    regions: Mapping[str, RegionConfig | None],
) -> Iterator[tuple[str, str, ipaddress.IPv4Network]]:
    for key, region in regions.items():
        if region is None:
            continue
        for field_name, alias in (
            ("proxy_subnet_cidr", "proxySubnetCidr"),
            ("pods_cidr", "podsCidr"),
            ("services_cidr", "servicesCidr"),
        ):
            value = getattr(region, field_name, None)
            if value is not None:
                yield key, alias, ipaddress.IPv4Network(value)


def _free_range_like(network: ipaddress.IPv4Network, taken: list[ipaddress.IPv4Network]) -> str | None:
    """The first range of the same size in 10.0.0.0/9 that overlaps nothing taken (a concrete fix to offer)."""
    for candidate in ipaddress.IPv4Network("10.0.0.0/9").subnets(new_prefix=network.prefixlen):
        if not any(candidate.overlaps(other) for other in taken):
            return str(candidate)
    return None


def _check_overlapping_cidrs(parts: Mapping[str, Any]) -> Iterator[KeyIssue]:
    regions: dict[str, RegionConfig | None] | None = parts.get("regions")
    network: str | None = parts.get("network")
    ranges = list(_cidr_fields(regions or {}))
    taken = [cidr for _, _, cidr in ranges] + ([AUTO_MODE_SUBNETS] if network == "default" else [])
    for index, (key, alias, cidr) in enumerate(ranges):
        clash = next(((k, a, c) for k, a, c in ranges[:index] if c.overlaps(cidr)), None)
        free = _free_range_like(cidr, taken)
        fix = f"pick a free range such as {free}" if free else "pick a free range"
        if clash is not None:
            yield (
                ("regions", key, alias),
                f"{cidr} overlaps regions.{clash[0]}.{clash[1]} ({clash[2]}); {fix}",
            )
        elif network == "default" and cidr.overlaps(AUTO_MODE_SUBNETS):
            yield (
                ("regions", key, alias),
                f"{cidr} overlaps {AUTO_MODE_SUBNETS}, where the default network's auto-mode subnets live; {fix}",
            )


def _check_gke_version(parts: Mapping[str, Any]) -> Iterator[KeyIssue]:
    version: str | None = parts.get("gke_version")
    fleet: FleetConfig | None = parts.get("fleet")
    if version is None or fleet is None:
        return
    multi = fleet.config_cluster is not None
    problem = version_problem(
        version,
        MULTI_CLUSTER_MIN_VERSION if multi else SINGLE_CLUSTER_MIN_VERSION,
        "multi-cluster" if multi else "single-cluster",
    )
    if problem is not None:
        yield (("gkeVersion",), problem)


def _check_services(parts: Mapping[str, Any]) -> Iterator[KeyIssue]:
    services: ServicesConfig | None = parts.get("services")
    if services is None:
        return
    fleet: FleetConfig | None = parts.get("fleet")
    regions: dict[str, RegionConfig | None] = parts.get("regions") or {}
    gpus = {
        key: GpuSupply(
            region.gpu_pool.accelerator_type, region.gpu_pool.accelerator_count, region.gpu_pool.node_count
        )
        for key, region in regions.items()
        # A region that failed validation is salvaged without its zone or pools: nothing to check against.
        if region is not None and "zone" in region.model_fields_set
    }
    yield from placement_problems(services, fleet is not None and fleet.config_cluster is not None, gpus)


STACK_CHECKS: tuple[StackCheck, ...] = (
    _check_config_cluster,
    _check_duplicate_regions,
    _check_overlapping_cidrs,
    _check_gke_version,
    _check_services,
)
