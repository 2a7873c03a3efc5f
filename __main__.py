"""Composition root of the Pulumi program: validated stack config -> services, regions, fleet -> exports.

The only place that reads configuration; components receive plain Args. A bad config stops here, before
any resource is registered, with one line per problem on stderr and exit code 2.
"""

from __future__ import annotations

import functools

import pulumi

from components.config import ConfigError, StackConfig, exit_on_config_error, load_stack_config
from components.config.sources import read_engine_config

try:
    stack_config: StackConfig = load_stack_config(
        read_engine_config(pulumi.get_project(), pulumi.get_stack())
    )
except ConfigError as error:
    exit_on_config_error(error)

# Imported after validation so a bad config fails fast, before the large cloud SDKs load.
from components.fleet import Fleet, FleetArgs, FleetMemberArgs
from components.inference_dashboard import InferenceDashboard, InferenceDashboardArgs
from components.inference_service import InferenceService, InferenceServiceArgs
from components.model_armor import ModelArmorGuard, ModelArmorGuardArgs
from components.picker_image import PickerImage, PickerImageArgs
from components.project_services import ProjectServices, ProjectServicesArgs
from components.region import Region, RegionArgs
from components.specs.sample_request import sample_curls

project = stack_config.project
services = ProjectServices("services", ProjectServicesArgs(project=project))

regions: dict[str, Region] = {
    name: Region(
        name,
        RegionArgs(
            project=project,
            spec=spec,
            proxy_subnet_purpose=stack_config.proxy_subnet_purpose,
            gke_version=stack_config.gke_version,
            release_channel=stack_config.release_channel,
            network=stack_config.network,
            deletion_protection=stack_config.deletion_protection,
            labels=stack_config.labels,
        ),
        opts=pulumi.ResourceOptions(depends_on=[services]),
    )
    for name, spec in stack_config.regions.items()
}

fleet: Fleet | None = None
if stack_config.fleet.config_cluster is not None:
    fleet = Fleet(
        "fleet",
        FleetArgs(
            project=project,
            members={
                name: FleetMemberArgs(cluster_id=region.cluster_id, wait_for=region.node_pools)
                for name, region in regions.items()
            },
            config_member=stack_config.fleet.config_cluster,
        ),
        opts=pulumi.ResourceOptions(depends_on=[services]),
    )

gateways: dict[str, str] = {}
gateway_addresses: dict[str, pulumi.Output[list[str]]] = {}
if stack_config.services is not None:
    service_config = stack_config.services
    gateway_cluster = stack_config.fleet.config_cluster or next(iter(stack_config.regions))
    picker_image = PickerImage(
        "picker-image",
        PickerImageArgs(
            spec=service_config.picker,
            project=project,
            location=stack_config.regions[gateway_cluster].region,
        ),
        opts=pulumi.ResourceOptions(depends_on=[services]),
    )
    hf_token = (
        pulumi.Output.secret(stack_config.hf_token.get_secret_value())
        if stack_config.hf_token is not None
        else None
    )
    armor_location = None
    armor: ModelArmorGuard | None = None
    if service_config.model_armor is not None:
        armor_location = service_config.model_armor.location or stack_config.regions[gateway_cluster].region
        armor = ModelArmorGuard(
            "model-armor",
            ModelArmorGuardArgs(spec=service_config.model_armor, project=project, location=armor_location),
            opts=pulumi.ResourceOptions(depends_on=[services]),
        )
    # One address per serving region on the cross-regional gateway, in config order.
    gateway_regions = list(dict.fromkeys(spec.region for spec in stack_config.regions.values()))
    # Every region's proxy-only subnet, for every cluster: the (cross-regional) gateway's proxies in any
    # serving region may reach any cluster's pickers and model servers. InferenceService creates each
    # pool's NetworkPolicies from these; without them it creates none and the pods are open in-cluster.
    proxy_only_ranges = list(dict.fromkeys(spec.proxy_subnet_cidr for spec in stack_config.regions.values()))
    for name, region in regions.items():
        service = InferenceService(
            f"{name}-inference",
            InferenceServiceArgs(
                cluster_name=name,
                services=service_config,
                provider=region.provider,
                picker_image=picker_image.image_ref,
                picker_image_resources=picker_image.pushed,
                hf_token=hf_token,
                topology="multi" if fleet is not None else "single",
                # Without a fleet every cluster serves alone, behind its own gateway.
                config_cluster=fleet is None or name == gateway_cluster,
                gateway_regions=gateway_regions if fleet is not None and name == gateway_cluster else (),
                # Multi-cluster Gateway objects need the fleet's multi-cluster ingress first.
                depends_on=[
                    *region.node_pools,
                    *([fleet] if fleet is not None else []),
                    *([armor] if armor is not None else []),
                ],
                # The gateway's proxies live in the proxy-only subnets: every region's for the cross-regional
                # gateway, the cluster's own otherwise.
                gateway_depends_on=[r.proxy_subnet for r in regions.values()]
                if fleet is not None
                else [region.proxy_subnet],
                model_armor_template=armor.template_name if armor is not None else None,
                model_armor_location=armor_location,
                proxy_only_ranges=proxy_only_ranges,
            ),
        )
        if service.gateway_name is not None and service.gateway_addresses is not None:
            gateways[name] = service.gateway_name
            gateway_addresses[name] = service.gateway_addresses
    if service_config.monitoring.dashboard:
        InferenceDashboard(
            "inference-dashboard",
            InferenceDashboardArgs(
                project=project,
                display_name=f"Inference gateway ({pulumi.get_stack()})",
                namespace=service_config.namespace,
                pools=[pool.name for pool in service_config.pools],
            ),
            opts=pulumi.ResourceOptions(depends_on=[services]),
        )

pulumi.export("topology", "multi-cluster" if fleet is not None else "single-cluster")
if gateways:
    pulumi.export("gateways", gateways)
    # Known once `pulumi up` has waited for GKE to program each Gateway (pulumi.com/waitFor).
    pulumi.export("gateway_addresses", gateway_addresses)
    services_config = stack_config.services
    assert services_config is not None
    pulumi.export(
        "test_requests",
        {
            name: addresses.apply(functools.partial(sample_curls, services_config))
            for name, addresses in gateway_addresses.items()
        },
    )
pulumi.export("clusters", {name: region.cluster_name for name, region in regions.items()})
pulumi.export("kube_contexts", {name: region.kube_context for name, region in regions.items()})
pulumi.export("kubeconfigs", {name: region.kubeconfig for name, region in regions.items()})
if fleet is not None:
    pulumi.export("config_membership", fleet.config_membership)
pulumi.export(
    "next_steps",
    [
        *(
            f"gcloud container clusters get-credentials {name} --location {spec.region} --project {project}"
            for name, spec in stack_config.regions.items()
        ),
        *(f"kubectl --context {region.kube_context} get nodes" for region in regions.values()),
        *([f"gcloud container fleet ingress describe --project {project}"] if fleet is not None else []),
    ],
)
