"""What the two-region (or N-region) local gateway starts: per cluster folder of the rendered manifests,
that cluster's LocalPlan (exactly what the single-cluster gateway would start for it), and the
cross-region tier read from the config cluster's objects.

A cluster's region comes from the rendered plan (the GKE Cluster resource's ``location``, in the plan
JSON `infgw plan --json` writes next to the manifests), matched to the Gateway's regional addresses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from infgw.local.plan import LocalPlan, LocalPlanError, local_plan_from_objects
from infgw.local.regions.tier_config import TierConfig, TierConfigError, tier_config
from infgw.local.rendered_stack import read_objects

GKE_CLUSTER_TYPE = "gcp:container/cluster:Cluster"
# Keeps replica seeds distinct across regions: region i of seed s plans with seed s * 10 + i (up to 10
# regions; a LocalPlan then spaces its seeds by 1000 per seed, 100 per pool, 1 per replica).
REGION_SEED_STRIDE = 10


class RegionPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster: str
    region: str
    plan: LocalPlan


class RegionalPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack: str
    config_cluster: str
    regions: tuple[RegionPlan, ...]  # in the Gateway's address order
    tier: TierConfig
    warnings: tuple[str, ...] = ()

    def region(self, name: str) -> RegionPlan:
        """A region by its region name or its cluster name."""
        for region in self.regions:
            if name in (region.region, region.cluster):
                return region
        known = ", ".join(f"{r.region} ({r.cluster})" for r in self.regions)
        raise KeyError(f"no region {name!r}; this stack's regions: {known}")


def cluster_locations(plan_json: Path) -> dict[str, str]:
    """GKE cluster name -> its location, from the rendered plan."""
    document: dict[str, Any] = json.loads(plan_json.read_text(encoding="utf-8"))
    return {
        str(resource["inputs"]["name"]): str(resource["inputs"]["location"])
        for resource in document.get("resources", [])
        if resource.get("type") == GKE_CLUSTER_TYPE and "name" in resource.get("inputs", {})
    }


def _has_kind(cluster_dir: Path, kind: str) -> bool:
    return any(obj.get("kind") == kind for obj in read_objects(cluster_dir))


def is_multi_region(manifests_dir: Path) -> bool:
    """Whether the plan rendered pools in several clusters (a fleet), so the regional gateway applies."""
    clusters = [p for p in manifests_dir.iterdir() if p.is_dir() and _has_kind(p, "InferencePool")]
    return len(clusters) > 1


def regional_plan(
    manifests_dir: Path,
    plan_json: Path,
    *,
    stack: str,
    replicas_cap: int | None = None,
    seed: int = 0,
    sim_overrides: dict[str, Any] | None = None,
) -> RegionalPlan:
    """Every region's LocalPlan and the tier, from the manifests under ``manifests_dir``.

    Raises:
        LocalPlanError: a cluster's pools do not wire up, the tier's objects are incomplete, or a
            Gateway region has no cluster.
    """
    clusters = sorted(p for p in manifests_dir.iterdir() if p.is_dir() and _has_kind(p, "InferencePool"))
    config_dir = next((p for p in clusters if _has_kind(p, "Gateway")), None)
    if config_dir is None:
        raise LocalPlanError(f"no cluster folder under {manifests_dir} holds the Gateway")
    try:
        tier = tier_config(read_objects(config_dir))
    except TierConfigError as error:
        raise LocalPlanError(f"cluster {config_dir.name}: {error}") from None
    locations = cluster_locations(plan_json)
    by_region: dict[str, Path] = {}
    for cluster in clusters:
        location = locations.get(cluster.name)
        if location is None:
            raise LocalPlanError(f"the plan names no GKE cluster {cluster.name!r}, so its region is unknown")
        by_region.setdefault(location, cluster)
    regions: list[RegionPlan] = []
    warnings: list[str] = []
    for index, region in enumerate(tier.regions):
        region_dir = by_region.get(region)
        if region_dir is None:
            raise LocalPlanError(
                f"Gateway {tier.gateway} has an address in {region}, where no cluster serves pool {tier.pool}"
            )
        plan = local_plan_from_objects(
            read_objects(region_dir),
            stack=stack,
            replicas_cap=replicas_cap,
            seed=seed * REGION_SEED_STRIDE + index,
            sim_overrides=sim_overrides,
        )
        if tier.pool not in {pool.name for pool in plan.pools}:
            raise LocalPlanError(
                f"cluster {region_dir.name} ({region}) does not serve pool {tier.pool}, which the HTTPRoute of "
                f"Gateway {tier.gateway} sends to; export the pool from every cluster of the fleet"
            )
        warnings += [f"{region_dir.name}: {warning}" for warning in plan.warnings]
        regions.append(RegionPlan(cluster=region_dir.name, region=region, plan=plan))
    return RegionalPlan(
        stack=stack,
        config_cluster=config_dir.name,
        regions=tuple(regions),
        tier=tier,
        warnings=tuple(dict.fromkeys(warnings)),
    )
