"""Region component: the cluster, pools, node account, proxy-only subnet and provider it registers."""

from __future__ import annotations

from pathlib import Path

import pytest

from infgw.plan.inventory import InventoryCheck
from infgw.plan.model import SECRET, UNKNOWN, PlannedResource
from infgw.plan.recorder import PlanRecorder

INVENTORIES = Path(__file__).parent / "inventories" / "region"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


def build_region(pulumi_mocks: PlanRecorder, **overrides) -> list[PlannedResource]:
    from components.config.stack import RegionConfig
    from components.region import Region, RegionArgs

    spec = {
        "region": "europe-west3",
        "zone": "europe-west3-c",
        "proxySubnetCidr": "10.0.0.0/23",
        "gpuPool": {"nodeCount": 3},
        **overrides.pop("spec", {}),
    }
    args = {
        "project": "my-inference-project",
        "spec": RegionConfig.model_validate(spec),
        "proxy_subnet_purpose": "GLOBAL_MANAGED_PROXY",
        "gke_version": "1.34.1-gke.1127000",
        **overrides,
    }
    return pulumi_mocks.record(lambda: Region("gke-west", RegionArgs(**args)))


def one(resources: list[PlannedResource], type_token: str, name: str) -> PlannedResource:
    (match,) = [resource for resource in resources if resource.type == type_token and resource.name == name]
    return match


def test_region_inventory(pulumi_mocks: PlanRecorder, golden_inventory: InventoryCheck) -> None:
    golden_inventory(build_region(pulumi_mocks), INVENTORIES / "multi_cluster_h100.yaml")


def test_cluster_has_gateway_prerequisites(pulumi_mocks: PlanRecorder) -> None:
    cluster = one(build_region(pulumi_mocks), CLUSTER, "gke-west-cluster")
    assert cluster.get("location") == "europe-west3"
    # The minor of gkeVersion: a channel keeps offering its latest patch, an exact patch goes away.
    assert cluster.get("minMasterVersion") == "1.34"
    # Dataplane V2 enforces the pools' NetworkPolicies.
    assert cluster.get("datapathProvider") == "ADVANCED_DATAPATH"
    assert cluster.get("releaseChannel.channel") == "RAPID"
    assert cluster.get("gatewayApiConfig.channel") == "CHANNEL_STANDARD"
    assert cluster.get("monitoringConfig.enableComponents") == ["SYSTEM_COMPONENTS", "DCGM"]
    assert cluster.get("monitoringConfig.managedPrometheus.enabled") is True
    assert cluster.get("podAutoscaling.hpaProfile") == "PERFORMANCE"
    assert cluster.get("workloadIdentityConfig.workloadPool") == "my-inference-project.svc.id.goog"
    assert cluster.get("networkingMode") == "VPC_NATIVE"
    assert cluster.get("removeDefaultNodePool") is True
    assert cluster.get("addonsConfig.httpLoadBalancing.disabled") is False
    assert cluster.get("deletionProtection") is False


def test_custom_network_and_subnetwork_pass_through(pulumi_mocks: PlanRecorder) -> None:
    resources = build_region(pulumi_mocks, network="inference-vpc", spec={"subnetwork": "inference-europe-west3"})
    cluster = one(resources, CLUSTER, "gke-west-cluster")
    assert (cluster.get("network"), cluster.get("subnetwork")) == ("inference-vpc", "inference-europe-west3")
    subnet = one(resources, "gcp:compute/subnetwork:Subnetwork", "gke-west-proxy-only")
    assert subnet.get("network") == "inference-vpc"


def test_gpu_pool_lives_in_the_zone_of_the_regional_cluster(pulumi_mocks: PlanRecorder) -> None:
    pool = one(build_region(pulumi_mocks), NODE_POOL, "gke-west-gpu")
    # Google's multi-cluster Inference Gateway guide passes the zone as the pool's location; the cluster is regional, so location = region.
    assert pool.get("location") == "europe-west3"
    assert pool.get("nodeLocations") == ["europe-west3-c"]
    assert pool.get("nodeCount") == 3
    assert pool.get("nodeConfig.machineType") == "a3-highgpu-2g"
    assert pool.get("nodeConfig.spot") is True
    assert pool.get("nodeConfig.guestAccelerators") == [
        {
            "type": "nvidia-h100-80gb",
            "count": 2,
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
        }
    ]
    # The node service account's email is computed by GCP: unknown in a preview, never invented.
    assert pool.get("nodeConfig.serviceAccount") == UNKNOWN
    assert "nodeConfig.serviceAccount" in pool.unknown_paths


def test_node_service_account_roles(pulumi_mocks: PlanRecorder) -> None:
    resources = build_region(pulumi_mocks)
    roles = sorted(r.get("role") for r in resources if r.type == "gcp:projects/iAMMember:IAMMember")
    assert roles == [
        "roles/artifactregistry.reader",
        "roles/autoscaling.metricsWriter",
        "roles/container.defaultNodeServiceAccount",
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
    ]


@pytest.mark.parametrize("purpose", ["GLOBAL_MANAGED_PROXY", "REGIONAL_MANAGED_PROXY"])
def test_proxy_only_subnet(pulumi_mocks: PlanRecorder, purpose: str) -> None:
    subnet = one(
        build_region(pulumi_mocks, proxy_subnet_purpose=purpose),
        "gcp:compute/subnetwork:Subnetwork",
        "gke-west-proxy-only",
    )
    assert (subnet.get("region"), subnet.get("ipCidrRange"), subnet.get("purpose"), subnet.get("role")) == (
        "europe-west3",
        "10.0.0.0/23",
        purpose,
        "ACTIVE",
    )


def test_provider_kubeconfig_is_secret_and_identity_stable(pulumi_mocks: PlanRecorder) -> None:
    provider = one(build_region(pulumi_mocks), "pulumi:providers:kubernetes", "gke-west-k8s")
    assert provider.get("kubeconfig") == SECRET
    assert "kubeconfig" in provider.secret_paths
    assert provider.get("clusterIdentifier") == "gke_my-inference-project_europe-west3_gke-west"


def test_every_child_is_parented_to_the_region(pulumi_mocks: PlanRecorder) -> None:
    resources = build_region(pulumi_mocks)
    (component,) = [r for r in resources if r.type == "infgw:index:Region"]
    children = [r for r in resources if r is not component]
    assert len(children) == 11
    assert all(child.parent_urn == component.urn for child in children)


