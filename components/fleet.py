"""Fleet: registers every region's cluster with the project's fleet and turns on multi-cluster ingress
(with one config cluster) and multi-cluster service discovery, plus the IAM their service agents need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.runtime.child_options import child_options

FLEET_LOCATION = "global"


@dataclass(frozen=True, kw_only=True)
class FleetMemberArgs:
    cluster_id: pulumi.Input[str]
    # Resources that must finish before registration (the cluster's node pools): registering while
    # cluster operations are still running fails.
    wait_for: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True, kw_only=True)
class FleetArgs:
    project: str
    members: Mapping[str, FleetMemberArgs]
    config_member: str

    def __post_init__(self) -> None:
        if self.config_member not in self.members:
            raise ValueError(
                f"FleetArgs.config_member {self.config_member!r} is not a member; members: {sorted(self.members)}"
            )


def membership_path(project: str, membership_id: str) -> str:
    """Full name of a global fleet membership, the form MCI's config_membership takes."""
    return f"projects/{project}/locations/{FLEET_LOCATION}/memberships/{membership_id}"


class Fleet(pulumi.ComponentResource):
    """Outputs: config_membership (full membership path) and membership_ids by member name."""

    config_membership: str
    membership_ids: Mapping[str, pulumi.Output[str]]

    def __init__(self, name: str, args: FleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("infgw:index:Fleet", name, None, opts)

        memberships = {
            member: gcp.gkehub.Membership(
                f"{name}-{member}",
                project=args.project,
                membership_id=member,
                location=FLEET_LOCATION,
                endpoint=gcp.gkehub.MembershipEndpointArgs(
                    gke_cluster=gcp.gkehub.MembershipEndpointGkeClusterArgs(
                        resource_link=pulumi.Output.from_input(spec.cluster_id).apply(
                            lambda cluster_id: f"//container.googleapis.com/{cluster_id}"
                        )
                    )
                ),
                # Fleet Workload Identity, as `gcloud container fleet memberships register` sets up.
                authority=gcp.gkehub.MembershipAuthorityArgs(
                    issuer=pulumi.Output.from_input(spec.cluster_id).apply(
                        lambda cluster_id: f"https://container.googleapis.com/v1/{cluster_id}"
                    )
                ),
                opts=child_options(self, opts, depends_on=list(spec.wait_for)),
            )
            for member, spec in args.members.items()
        }

        # Written out rather than taken from the membership's computed id, so a preview already shows
        # which cluster is the config cluster; depends_on keeps the ordering the id would have given.
        self.config_membership = membership_path(args.project, args.config_member)
        ingress = gcp.gkehub.Feature(
            f"{name}-multiclusteringress",
            project=args.project,
            name="multiclusteringress",
            location=FLEET_LOCATION,
            spec=gcp.gkehub.FeatureSpecArgs(
                multiclusteringress=gcp.gkehub.FeatureSpecMulticlusteringressArgs(
                    config_membership=self.config_membership
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(memberships.values())),
        )
        gcp.gkehub.Feature(
            f"{name}-multiclusterservicediscovery",
            project=args.project,
            name="multiclusterservicediscovery",
            location=FLEET_LOCATION,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(memberships.values())),
        )

        # The MCI service agent programs load balancers for the clusters; its email embeds the project
        # number, which the ServiceIdentity resource knows and the stack config does not.
        ingress_agent = gcp.projects.ServiceIdentity(
            f"{name}-mci-agent",
            project=args.project,
            service="multiclusteringress.googleapis.com",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ingress]),
        )
        gcp.projects.IAMMember(
            f"{name}-mci-agent-container-admin",
            project=args.project,
            role="roles/container.admin",
            member=ingress_agent.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=child_options(self, opts),
        )
        # MCS's importer runs in every member cluster as a Kubernetes service account (workload identity).
        # The `<project>.svc.id.goog` pool exists only once a cluster with workload identity does, hence
        # the wait for the memberships (which wait for the clusters' node pools).
        gcp.projects.IAMMember(
            f"{name}-mcs-importer-network-viewer",
            project=args.project,
            role="roles/compute.networkViewer",
            member=f"serviceAccount:{args.project}.svc.id.goog[gke-mcs/gke-mcs-importer]",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(memberships.values())),
        )

        self.membership_ids = {member: membership.id for member, membership in memberships.items()}
        self.register_outputs(
            {"config_membership": self.config_membership, "membership_ids": self.membership_ids}
        )
