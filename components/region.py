"""Region: everything one serving region needs - a GKE cluster, its CPU and GPU node pools, the node
service account, the proxy-only subnet for the gateway's proxies, and a Kubernetes provider for it.

The cluster is regional (control plane in `region`); both node pools live in `zone` (node_locations), the
zone with GPU capacity. Google's multi-cluster Inference Gateway guide passes the zone as the pools' location; that would target a
zonal cluster that does not exist, so the pool location here is the cluster's region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.config.stack import ProxySubnetPurpose, RegionConfig
from components.runtime.child_options import child_options
from components.specs.kubeconfig import gke_context_name, gke_kubeconfig
from policies.gke_versions import gke_minor_version

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# What GKE nodes of the gateway need: Autoscaling API metrics (a prerequisite in Google's multi-cluster Inference Gateway guide, feeds the LB's
# custom metrics), Cloud Monitoring/Logging, and image pulls from Artifact Registry.
NODE_SERVICE_ACCOUNT_ROLES: tuple[str, ...] = (
    # What GKE's default node service account is granted (logging, monitoring, metadata writers), which a
    # dedicated account must be given explicitly.
    "roles/container.defaultNodeServiceAccount",
    "roles/autoscaling.metricsWriter",
    "roles/monitoring.metricWriter",
    "roles/logging.logWriter",
    "roles/artifactregistry.reader",
)


@dataclass(frozen=True, kw_only=True)
class RegionArgs:
    """One region's cluster and network pieces (the component's name is the cluster's name).

    `spec` is the region's validated stack config, defaults included (defined once, in
    `components.config.stack`); the rest are stack-wide settings the composition root passes on.
    """

    project: str
    spec: RegionConfig
    proxy_subnet_purpose: ProxySubnetPurpose
    gke_version: str
    release_channel: str = "RAPID"
    network: str = "default"
    deletion_protection: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


def _node_config(
    *,
    machine_type: str,
    disk_type: str,
    disk_size_gb: int,
    service_account: pulumi.Input[str],
    resource_labels: Mapping[str, str],
    spot: bool = False,
    guest_accelerators: Sequence[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None,
    node_labels: Mapping[str, str] | None = None,
    gvnic: gcp.container.NodePoolNodeConfigGvnicArgs | None = None,
) -> gcp.container.NodePoolNodeConfigArgs:
    """Node settings both pools share: the dedicated service account, GKE metadata server, labels."""
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=machine_type,
        disk_type=disk_type,
        disk_size_gb=disk_size_gb,
        service_account=service_account,
        oauth_scopes=[CLOUD_PLATFORM_SCOPE],
        resource_labels=dict(resource_labels),
        labels=dict(node_labels) if node_labels else None,
        spot=spot,
        guest_accelerators=list(guest_accelerators) if guest_accelerators else None,
        gvnic=gvnic,
        # Pods get their identity from Workload Identity, never the node's service account.
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
            mode="GKE_METADATA"
        ),
    )


class Region(pulumi.ComponentResource):
    """A GPU serving region. Outputs: cluster_name, cluster_id, kube_context, kubeconfig (secret), provider."""

    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    kube_context: str
    provider: k8s.Provider
    node_pools: Sequence[gcp.container.NodePool]
    proxy_subnet: gcp.compute.Subnetwork

    def __init__(self, name: str, args: RegionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("infgw:index:Region", name, None, opts)
        child = child_options(self, opts)
        labels = dict(args.labels)

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            project=args.project,
            account_id=f"{name}-nodes",
            display_name=f"GKE nodes of {name}",
            opts=child,
        )
        member = node_account.email.apply(lambda email: f"serviceAccount:{email}")
        role_grants = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.removeprefix('roles/').replace('.', '-')}",
                project=args.project,
                role=role,
                member=member,
                opts=child,
            )
            for role in NODE_SERVICE_ACCOUNT_ROLES
        ]

        self.proxy_subnet = gcp.compute.Subnetwork(
            f"{name}-proxy-only",
            project=args.project,
            name=f"{args.spec.region}-proxy-only",
            region=args.spec.region,
            network=args.network,
            ip_cidr_range=args.spec.proxy_subnet_cidr,
            purpose=args.proxy_subnet_purpose,
            role="ACTIVE",
            opts=child,
        )

        cluster = gcp.container.Cluster(
            f"{name}-cluster",
            project=args.project,
            name=name,
            location=args.spec.region,
            network=args.network,
            subnetwork=args.spec.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_ipv4_cidr_block=args.spec.pods_cidr,
                services_ipv4_cidr_block=args.spec.services_cidr,
            ),
            # GKE insists on an initial pool; it is deleted right away and replaced by the pools below.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_account.email, oauth_scopes=[CLOUD_PLATFORM_SCOPE]
            ),
            # The minor only (1.34): a release channel offers a moving set of patches, so an exact patch
            # that was valid when written stops being creatable; GKE takes the channel's latest 1.34.
            min_master_version=gke_minor_version(args.gke_version),
            # Dataplane V2: enforces the pools' NetworkPolicies (a Standard cluster without it ignores them).
            datapath_provider="ADVANCED_DATAPATH",
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel),
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                http_load_balancing=gcp.container.ClusterAddonsConfigHttpLoadBalancingArgs(disabled=False),
            ),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "DCGM"],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            pod_autoscaling=gcp.container.ClusterPodAutoscalingArgs(hpa_profile="PERFORMANCE"),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"
            ),
            resource_labels=labels,
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=role_grants,
                custom_timeouts=pulumi.CustomTimeouts(create="45m", update="45m", delete="45m"),
            ),
        )

        management = gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True)
        system_pool = gcp.container.NodePool(
            f"{name}-system",
            project=args.project,
            name="system",
            cluster=cluster.name,
            location=args.spec.region,
            node_locations=[args.spec.zone],
            node_count=args.spec.system_pool.node_count,
            node_config=_node_config(
                machine_type=args.spec.system_pool.machine_type,
                disk_type=args.spec.system_pool.disk_type,
                disk_size_gb=args.spec.system_pool.disk_size_gb,
                service_account=node_account.email,
                resource_labels=labels,
            ),
            management=management,
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=pulumi.CustomTimeouts(create="30m")),
        )
        gpu_pool = gcp.container.NodePool(
            f"{name}-gpu",
            project=args.project,
            name="gpu",
            cluster=cluster.name,
            location=args.spec.region,
            node_locations=[args.spec.zone],
            node_count=args.spec.gpu_pool.node_count,
            node_config=_node_config(
                machine_type=args.spec.gpu_pool.machine_type,
                disk_type=args.spec.gpu_pool.disk_type,
                disk_size_gb=args.spec.gpu_pool.disk_size_gb,
                service_account=node_account.email,
                resource_labels=labels,
                spot=args.spec.gpu_pool.spot,
                guest_accelerators=[
                    gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                        type=args.spec.gpu_pool.accelerator_type,
                        count=args.spec.gpu_pool.accelerator_count,
                        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                            gpu_driver_version=args.spec.gpu_pool.gpu_driver_version
                        ),
                    )
                ],
                node_labels={"infgw.dev/pool": "gpu"},
                # gVNIC: the A3 family's high-bandwidth NIC driver.
                gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
            ),
            management=management,
            # H100 capacity (Spot especially) can take long to obtain.
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=pulumi.CustomTimeouts(create="60m", update="60m")
            ),
        )

        self.kube_context = gke_context_name(args.project, args.spec.region, name)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
                lambda values: gke_kubeconfig(self.kube_context, values[0], values[1])
            )
        )
        self.node_pools = (system_pool, gpu_pool)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # A stable identity: refreshed credentials or a new endpoint must not replace every object.
            cluster_identifier=self.kube_context,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.node_pools)),
        )
        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_id": self.cluster_id,
                "kube_context": self.kube_context,
                "kubeconfig": self.kubeconfig,
            }
        )
