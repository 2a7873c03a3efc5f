"""Fleet component: memberships, the multi-cluster ingress/service-discovery features and their IAM."""

from __future__ import annotations

from pathlib import Path

import pytest

from infgw.plan.inventory import InventoryCheck
from infgw.plan.model import UNKNOWN, PlannedResource
from infgw.plan.recorder import PlanRecorder

INVENTORIES = Path(__file__).parent / "inventories" / "fleet"
MEMBERSHIP = "gcp:gkehub/membership:Membership"
FEATURE = "gcp:gkehub/feature:Feature"


def build_fleet(pulumi_mocks: PlanRecorder) -> list[PlannedResource]:
    import pulumi_gcp as gcp

    from components.fleet import Fleet, FleetArgs, FleetMemberArgs

    def program() -> None:
        pools = {
            member: gcp.container.NodePool(f"{member}-gpu", cluster=member, location="region-x", node_count=1)
            for member in ("gke-west", "gke-east")
        }
        Fleet(
            "fleet",
            FleetArgs(
                project="my-inference-project",
                members={
                    member: FleetMemberArgs(
                        cluster_id=f"projects/my-inference-project/locations/region-x/clusters/{member}",
                        wait_for=[pool],
                    )
                    for member, pool in pools.items()
                },
                config_member="gke-west",
            ),
        )

    return pulumi_mocks.record(program)


def test_fleet_inventory(pulumi_mocks: PlanRecorder, golden_inventory: InventoryCheck) -> None:
    resources = [r for r in build_fleet(pulumi_mocks) if not r.type.startswith("gcp:container/")]
    golden_inventory(resources, INVENTORIES / "two_members.yaml")


def test_memberships_are_global_and_link_their_clusters(pulumi_mocks: PlanRecorder) -> None:
    memberships = [r for r in build_fleet(pulumi_mocks) if r.type == MEMBERSHIP]
    assert sorted(m.get("membershipId") for m in memberships) == ["gke-east", "gke-west"]
    for membership in memberships:
        member = membership.get("membershipId")
        assert membership.get("location") == "global"
        assert membership.get("endpoint.gkeCluster.resourceLink") == (
            f"//container.googleapis.com/projects/my-inference-project/locations/region-x/clusters/{member}"
        )
        assert membership.get("authority.issuer").startswith("https://container.googleapis.com/v1/projects/")


def test_memberships_wait_for_the_node_pools(pulumi_mocks: PlanRecorder) -> None:
    resources = build_fleet(pulumi_mocks)
    pools = {r.name: r.urn for r in resources if r.type == "gcp:container/nodePool:NodePool"}
    for membership in (r for r in resources if r.type == MEMBERSHIP):
        assert pools[f"{membership.get('membershipId')}-gpu"] in membership.dependencies


def test_multicluster_ingress_points_at_the_config_membership(pulumi_mocks: PlanRecorder) -> None:
    resources = build_fleet(pulumi_mocks)
    features = {r.get("name"): r for r in resources if r.type == FEATURE}
    assert set(features) == {"multiclusteringress", "multiclusterservicediscovery"}
    ingress = features["multiclusteringress"]
    assert ingress.get("location") == "global"
    assert ingress.get("spec.multiclusteringress.configMembership") == (
        "projects/my-inference-project/locations/global/memberships/gke-west"
    )
    membership_urns = {r.urn for r in resources if r.type == MEMBERSHIP}
    assert membership_urns <= set(ingress.dependencies)


def test_service_agent_iam(pulumi_mocks: PlanRecorder) -> None:
    grants = {
        r.get("role"): r.get("member")
        for r in build_fleet(pulumi_mocks)
        if r.type == "gcp:projects/iAMMember:IAMMember"
    }
    # The MCI agent's email embeds the project number: computed, so unknown in preview.
    assert grants["roles/container.admin"] == UNKNOWN
    assert (
        grants["roles/compute.networkViewer"]
        == "serviceAccount:my-inference-project.svc.id.goog[gke-mcs/gke-mcs-importer]"
    )


def test_mcs_importer_grant_waits_for_the_workload_identity_pool(pulumi_mocks: PlanRecorder) -> None:
    resources = build_fleet(pulumi_mocks)
    (grant,) = [r for r in resources if r.name == "fleet-mcs-importer-network-viewer"]
    assert {r.urn for r in resources if r.type == MEMBERSHIP} <= set(grant.dependencies)


def test_fleet_args_reject_unknown_config_member() -> None:
    from components.fleet import FleetArgs, FleetMemberArgs

    with pytest.raises(ValueError, match="config_member 'gke-north' is not a member"):
        FleetArgs(
            project="p-123456",
            members={"gke-west": FleetMemberArgs(cluster_id="x")},
            config_member="gke-north",
        )
