"""Rules for GKE clusters and GPU node pools: the documented prerequisites of the Inference Gateway (GKE
version, Rapid channel, Gateway API, PERFORMANCE HPA profile, managed Prometheus + DCGM, GPU drivers).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from pulumi_policy import EnforcementLevel, Severity
from pydantic import Field, field_validator

from policies import resource_types as types
from policies.gke_versions import (
    MULTI_CLUSTER_MIN_VERSION,
    SINGLE_CLUSTER_MIN_VERSION,
    is_minor_only,
    parse_gke_version,
)
from policies.props import Props, as_int
from policies.rule import Finding, NoConfig, Resource, RuleConfig, Stack, known
from policies.rule_declaration import Remediation, resource_rule, stack_rule
from policies.topology import is_multi_cluster, uses_custom_metrics


def _is_cluster(resource_type: str) -> bool:
    return resource_type == types.CLUSTER


def _is_node_pool(resource_type: str) -> bool:
    return resource_type == types.NODE_POOL


def _setting_remediation(section: str, key: str, value: str, accepted: frozenset[str]) -> Remediation:
    """Sets ``props[section][key]`` to ``value`` unless it already holds one of ``accepted``."""

    def remediate(props: dict[str, Any], config: NoConfig) -> dict[str, Any] | None:
        if (props.get(section) or {}).get(key) in accepted:
            return None
        fixed = copy.deepcopy(props)
        fixed[section] = {**(fixed.get(section) or {}), key: value}
        return fixed

    return remediate


# --- gke-minimum-version -----------------------------------------------------------------------------


def _gke_version(value: str) -> str:
    if parse_gke_version(value) is None:
        raise ValueError(f"'{value}' is not a GKE version like 1.34.1-gke.1127000")
    return value


class MinimumVersionConfig(RuleConfig):
    multi_cluster_min_version: str = Field(
        MULTI_CLUSTER_MIN_VERSION,
        description="Lowest GKE version for multi-cluster stacks and for custom-metrics load balancing.",
    )
    single_cluster_min_version: str = Field(
        SINGLE_CLUSTER_MIN_VERSION, description="Lowest GKE version for a single-cluster Inference Gateway."
    )

    @field_validator("multi_cluster_min_version", "single_cluster_min_version")
    @classmethod
    def _parseable(cls, value: str) -> str:
        return _gke_version(value)


@stack_rule(
    "gke-minimum-version",
    severity=Severity.HIGH,
    remediation_steps="Raise the cluster's minMasterVersion (stack config) to the version named in the message.",
)
def minimum_version(stack: Stack, config: MinimumVersionConfig) -> Iterator[Finding]:
    """Requires GKE clusters to run at least the version the stack's gateway topology needs.

    The single-cluster Inference Gateway needs GKE 1.32.3+; multi-cluster routing and custom-metrics load
    balancing need 1.34.1-gke.1127000+. Older control planes accept the manifests but never program them.
    """
    if is_multi_cluster(stack) or uses_custom_metrics(stack):
        required, why = config.multi_cluster_min_version, "multi-cluster routing and custom-metrics balancing"
    else:
        required, why = config.single_cluster_min_version, "the single-cluster Inference Gateway"
    minimum = parse_gke_version(required)
    for cluster in stack.of(types.CLUSTER):
        version = known(lambda: cluster.props.text("minMasterVersion") or "")
        if version is None:
            continue
        if not version:
            yield Finding(f"minMasterVersion is not set, so GKE picks the channel default, which may be older "
                          f"than {required}; set minMasterVersion to {required} or newer.", cluster.urn)
            continue
        if version.strip().lower() == "latest":
            continue
        parsed = parse_gke_version(version)
        # A minor alone ("1.34") makes GKE take the channel's latest patch of it: compare minors only.
        minor_only = is_minor_only(version)
        if parsed is None:
            yield Finding(f"minMasterVersion '{version}' is not a GKE version; use a form like {required}.",
                          cluster.urn)
        elif minimum is not None and (parsed[:2] < minimum[:2] if minor_only else parsed < minimum):
            yield Finding(f"minMasterVersion {version} is older than {required}, the first version that supports "
                          f"{why}; raise it.", cluster.urn)


# --- gke-rapid-release-channel -----------------------------------------------------------------------


@resource_rule(
    "gke-rapid-release-channel",
    applies_to=_is_cluster,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.LOW,
)
def rapid_release_channel(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Recommends the RAPID release channel for inference clusters.

    Load-balancer custom metrics are documented for clusters on the Rapid channel; other channels may not have
    the required GKE version yet.
    """
    channel = resource.props.text("releaseChannel", "channel")
    if channel != "RAPID":
        yield (f"release channel is {channel or 'unset (GKE default REGULAR)'}; the custom-metrics features "
               f"the gateway uses ship on RAPID first: set releaseChannel.channel to RAPID.")


# --- gke-gateway-api-enabled -------------------------------------------------------------------------

_ENABLED_GATEWAY_CHANNELS = frozenset({"CHANNEL_STANDARD", "CHANNEL_EXPERIMENTAL"})


@resource_rule(
    "gke-gateway-api-enabled",
    applies_to=_is_cluster,
    severity=Severity.HIGH,
    remediate=_setting_remediation("gatewayApiConfig", "channel", "CHANNEL_STANDARD", _ENABLED_GATEWAY_CHANNELS),
    remediation_steps="Set gatewayApiConfig.channel to CHANNEL_STANDARD.",
)
def gateway_api_enabled(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires the Gateway API (standard channel) on every GKE cluster.

    The Inference Gateway is a Gateway API implementation: without the CRDs and the GKE Gateway controller the
    Gateway, HTTPRoute and policies are never programmed.
    """
    channel = resource.props.text("gatewayApiConfig", "channel")
    if channel not in _ENABLED_GATEWAY_CHANNELS:
        yield (f"Gateway API is {'disabled' if channel else 'not enabled'} (gatewayApiConfig.channel="
               f"{channel or 'unset'}); set it to CHANNEL_STANDARD.")
    if resource.props.flag("addonsConfig", "httpLoadBalancing", "disabled") is True:
        yield "the HttpLoadBalancing add-on is disabled; GKE Gateway controllers need it enabled."


# --- gke-managed-prometheus-dcgm ---------------------------------------------------------------------


def _remediate_monitoring(props: dict[str, Any], config: NoConfig) -> dict[str, Any] | None:
    monitoring = dict(props.get("monitoringConfig") or {})
    components = list(monitoring.get("enableComponents") or [])
    prometheus = dict(monitoring.get("managedPrometheus") or {})
    if "DCGM" in components and prometheus.get("enabled") is True:
        return None
    for component in ("SYSTEM_COMPONENTS", "DCGM"):
        if component not in components:
            components.append(component)
    prometheus["enabled"] = True
    fixed = copy.deepcopy(props)
    fixed["monitoringConfig"] = {**monitoring, "enableComponents": components, "managedPrometheus": prometheus}
    return fixed


@resource_rule(
    "gke-managed-prometheus-dcgm",
    applies_to=_is_cluster,
    remediate=_remediate_monitoring,
    remediation_steps="Enable monitoringConfig.managedPrometheus and add DCGM to enableComponents.",
)
def managed_prometheus_dcgm(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires managed Prometheus and the DCGM monitoring component on GKE clusters.

    The gateway's dashboards and the doc's setup rely on Google Cloud Managed Service for Prometheus and DCGM
    GPU metrics (--enable-managed-prometheus --monitoring=SYSTEM,DCGM).
    """
    if resource.props.flag("monitoringConfig", "managedPrometheus", "enabled") is not True:
        yield "managed Prometheus is off; set monitoringConfig.managedPrometheus.enabled to true."
    components = resource.props.strings("monitoringConfig", "enableComponents")
    if "DCGM" not in components:
        yield ("monitoringConfig.enableComponents lacks DCGM, so GPU metrics are not collected; "
               "add DCGM (and keep SYSTEM_COMPONENTS).")


# --- gke-hpa-performance-profile ---------------------------------------------------------------------


@resource_rule(
    "gke-hpa-performance-profile",
    applies_to=_is_cluster,
    remediate=_setting_remediation("podAutoscaling", "hpaProfile", "PERFORMANCE", frozenset({"PERFORMANCE"})),
    remediation_steps="Set podAutoscaling.hpaProfile to PERFORMANCE.",
)
def hpa_performance_profile(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires the PERFORMANCE HPA profile on GKE clusters.

    Exposing custom metrics to load balancers is documented as requiring the performance HPA profile.
    """
    profile = resource.props.text("podAutoscaling", "hpaProfile")
    if profile != "PERFORMANCE":
        yield (f"podAutoscaling.hpaProfile is {profile or 'unset'}; custom metrics for load balancing need "
               f"PERFORMANCE.")


# --- gpu-driver-installation -------------------------------------------------------------------------

_INSTALLING_DRIVER_VERSIONS = frozenset({"DEFAULT", "LATEST"})


class DriverInstallationConfig(RuleConfig):
    remediation_driver_version: str = Field(
        "LATEST", description="gpuDriverVersion the remediation sets: DEFAULT or LATEST."
    )

    @field_validator("remediation_driver_version")
    @classmethod
    def _installing(cls, value: str) -> str:
        if value not in _INSTALLING_DRIVER_VERSIONS:
            raise ValueError(f"must be one of {sorted(_INSTALLING_DRIVER_VERSIONS)}, got '{value}'")
        return value


def _accelerators(props: Props) -> list[Props]:
    return props.items("nodeConfig", "guestAccelerators")


def _remediate_driver_installation(
    props: dict[str, Any], config: DriverInstallationConfig
) -> dict[str, Any] | None:
    fixed = copy.deepcopy(props)
    changed = False
    for accelerator in (fixed.get("nodeConfig") or {}).get("guestAccelerators") or []:
        installation = accelerator.get("gpuDriverInstallationConfig") or {}
        if installation.get("gpuDriverVersion") not in _INSTALLING_DRIVER_VERSIONS:
            accelerator["gpuDriverInstallationConfig"] = {
                **installation, "gpuDriverVersion": config.remediation_driver_version}
            changed = True
    return fixed if changed else None


@resource_rule(
    "gpu-driver-installation",
    applies_to=_is_node_pool,
    severity=Severity.HIGH,
    remediate=_remediate_driver_installation,
    remediation_steps="Set guestAccelerators[].gpuDriverInstallationConfig.gpuDriverVersion to LATEST.",
)
def gpu_driver_installation(resource: Resource, config: DriverInstallationConfig) -> Iterator[str]:
    """Requires GPU node pools to let GKE install the NVIDIA driver.

    Without gpuDriverInstallationConfig (or with INSTALLATION_DISABLED) nodes come up without a driver and
    vLLM pods stay pending or crash until someone installs the driver DaemonSet.
    """
    for index, accelerator in enumerate(_accelerators(resource.props)):
        count = accelerator.number("count")
        if count is not None and count <= 0:
            continue
        version = accelerator.text("gpuDriverInstallationConfig", "gpuDriverVersion")
        if version not in _INSTALLING_DRIVER_VERSIONS:
            kind = accelerator.text("type") or f"guestAccelerators[{index}]"
            yield (f"{kind}: gpuDriverInstallationConfig.gpuDriverVersion is {version or 'unset'}, so GKE "
                   f"installs no NVIDIA driver and GPU pods never start; set it to LATEST or DEFAULT.")


# --- gpu-machine-type-matches-accelerators -----------------------------------------------------------

# Accelerator-optimized machine types come with a fixed GPU type and count (Compute Engine GPU docs).
_FIXED_GPU_MACHINES: Mapping[str, tuple[str, int]] = MappingProxyType({
    **{f"a2-highgpu-{n}g": ("nvidia-tesla-a100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("nvidia-tesla-a100", 16),
    **{f"a2-ultragpu-{n}g": ("nvidia-a100-80gb", n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": ("nvidia-h100-80gb", n) for n in (1, 2, 4, 8)},
    "a3-edgegpu-8g": ("nvidia-h100-80gb", 8),
    "a3-megagpu-8g": ("nvidia-h100-mega-80gb", 8),
    "a3-ultragpu-8g": ("nvidia-h200-141gb", 8),
    "a4-highgpu-8g": ("nvidia-b200", 8),
    **{f"g2-standard-{n}": ("nvidia-l4", 1) for n in (4, 8, 12, 16, 32)},
    "g2-standard-24": ("nvidia-l4", 2),
    "g2-standard-48": ("nvidia-l4", 4),
    "g2-standard-96": ("nvidia-l4", 8),
})
# N1 machines take attachable GPUs in these counts only.
_N1_GPU_COUNTS = frozenset({1, 2, 4, 8})


def expected_accelerator(machine_type: str) -> tuple[str, int] | None:
    """The (accelerator type, count) an accelerator-optimized machine type carries, if it is one."""
    return _FIXED_GPU_MACHINES.get(machine_type)


@resource_rule("gpu-machine-type-matches-accelerators", applies_to=_is_node_pool)
def machine_type_matches_accelerators(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires a GPU node pool's machine type to match its accelerator type and count.

    Accelerator-optimized machines (a2/a3/a4/g2) have a fixed GPU type and count; a mismatch fails node-pool
    creation after a long wait, or silently wastes GPUs.
    """
    machine_type = resource.props.text("nodeConfig", "machineType")
    if machine_type is None:
        return
    accelerators = [a for a in _accelerators(resource.props) if (a.number("count") or 0) > 0]
    expected = expected_accelerator(machine_type)
    if expected is not None:
        expected_type, expected_count = expected
        for accelerator in accelerators:
            kind = accelerator.text("type")
            count = as_int(accelerator.number("count"))
            if kind is not None and kind != expected_type:
                yield f"{machine_type} carries {expected_type}, but guestAccelerators asks for {kind}."
            if count is not None and count != expected_count:
                yield (f"{machine_type} has exactly {expected_count} GPU(s), but guestAccelerators.count is "
                       f"{count}; use the machine size that matches (e.g. the -{count}g variant) or fix the count.")
    elif machine_type.startswith("n1-"):
        for accelerator in accelerators:
            count = as_int(accelerator.number("count"))
            if count is not None and count not in _N1_GPU_COUNTS:
                yield f"N1 machines attach 1, 2, 4 or 8 GPUs, not {count}."
    elif accelerators and machine_type.split("-")[0] in {"e2", "n2", "n2d", "c2", "c3", "t2d"}:
        yield f"{machine_type} cannot attach GPUs; use an accelerator-optimized (a2/a3/g2) or N1 machine type."


# --- node-pool-zones-in-cluster-region ---------------------------------------------------------------


def region_of_zone(zone: str) -> str:
    """``europe-west3-c`` -> ``europe-west3``; a region is returned unchanged."""
    parts = zone.split("-")
    return "-".join(parts[:-1]) if len(parts) == 3 else zone


def _cluster_reference(reference: str) -> str:
    """Node pools name their cluster by name or by ``projects/P/locations/L/clusters/NAME``."""
    return reference.rsplit("/", 1)[-1]


@stack_rule("node-pool-zones-in-cluster-region")
def node_pool_zones_in_region(stack: Stack, config: NoConfig) -> Iterator[Finding]:
    """Requires node pool zones to lie in their cluster's region.

    A node pool's location must be the cluster's location (the region for regional clusters) and its
    nodeLocations zones of that region; the doc's zone-vs-region mix-up fails at apply time.
    """
    cluster_locations: dict[str, str] = {}
    for cluster in stack.of(types.CLUSTER):
        name = known(lambda: cluster.props.text("name")) or cluster.name
        location = known(lambda: cluster.props.text("location"))
        if location:
            cluster_locations[name] = location
    for pool in stack.of(types.NODE_POOL):
        facts = known(lambda: (pool.props.text("cluster"), pool.props.text("location"),
                                       pool.props.strings("nodeLocations")))
        if facts is None:
            continue
        cluster_ref, location, zones = facts
        cluster_location = cluster_locations.get(_cluster_reference(cluster_ref)) if cluster_ref else None
        if cluster_location and location and location != cluster_location:
            yield Finding(f"node pool location {location} differs from its cluster's location "
                          f"{cluster_location}; set location to the cluster's location and put zones in "
                          f"nodeLocations.", pool.urn)
        region = region_of_zone(cluster_location or location or "")
        if not region:
            continue
        for zone in zones:
            if region_of_zone(zone) != region:
                yield Finding(f"nodeLocations zone {zone} is outside the cluster's region {region}; "
                              f"pick a zone in {region}.", pool.urn)


RULES = (
    minimum_version,
    rapid_release_channel,
    gateway_api_enabled,
    managed_prometheus_dcgm,
    hpa_performance_profile,
    gpu_driver_installation,
    machine_type_matches_accelerators,
    node_pool_zones_in_region,
)
