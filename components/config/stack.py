"""The stack config's models: regions with their node pools, the fleet, GKE version and channel, labels,
the Hugging Face token and the `services` section (`components.config.services`). Validated as a whole by
`components.config.loading`; the checks across keys are `components.config.cross_checks`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, ValidationInfo, field_validator, model_validator

from components.config.base import ConfigModel, KeyIssue, fail, issue
from components.config.cross_checks import STACK_CHECKS
from components.config.services import ServicesConfig
from components.gcp_locations import closest_regions, is_known_region, region_of_zone, zones_of
from components.gpu_machines import gpu_machine_problem
from policies.gke_versions import MULTI_CLUSTER_MIN_VERSION, SINGLE_CLUSTER_MIN_VERSION

ProxySubnetPurpose = Literal["GLOBAL_MANAGED_PROXY", "REGIONAL_MANAGED_PROXY"]
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
# The region key names the cluster, its fleet membership and `<key>-nodes`, a service account id
# (6-30 characters), hence at most 24 characters.
_REGION_KEY = re.compile(r"^[a-z]([-a-z0-9]{0,22}[a-z0-9])?$")


class SystemPoolConfig(ConfigModel):
    """CPU nodes for system pods and the endpoint picker (kept off the Spot GPUs)."""

    machine_type: str = Field("e2-standard-8", description="CPU machine type, e.g. c2-standard-16 (Google's multi-cluster Inference Gateway guide)")
    node_count: int = Field(1, description="nodes in the region's zone")
    disk_type: str = Field("pd-balanced", description="boot disk type, e.g. pd-standard")
    disk_size_gb: int = Field(100, description="boot disk size in GB")

    @field_validator("node_count")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise issue(f"must be at least 1, got {value}; the picker and system pods need a CPU node")
        return value

    @field_validator("disk_size_gb")
    @classmethod
    def _disk_size(cls, value: int) -> int:
        if value < 10:
            raise issue(f"must be at least 10 (GKE's minimum boot disk), got {value}")
        return value


class GpuPoolConfig(ConfigModel):
    """The accelerator node pool serving the model (Google's multi-cluster Inference Gateway guide: a3-highgpu-2g, 2 x H100, Spot, 3 nodes)."""

    machine_type: str = Field("a3-highgpu-2g", description="GPU machine type")
    accelerator_type: str = Field("nvidia-h100-80gb", description="GPU type the machine type carries")
    accelerator_count: int = Field(2, description="GPUs per node; must match the machine type")
    node_count: int = Field(1, description="nodes in the region's zone")
    spot: bool = Field(True, description="Spot VMs (cheaper, preemptible; Google's multi-cluster Inference Gateway guide uses them)")
    gpu_driver_version: Literal["LATEST", "DEFAULT"] = Field("LATEST", description="driver GKE installs")
    disk_type: str = Field("pd-ssd", description="boot disk type")
    disk_size_gb: int = Field(200, description="boot disk size in GB (model weights are cached here)")

    @field_validator("node_count")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise issue(f"must be at least 1, got {value}; a region without GPU nodes serves nothing")
        return value

    # Field validators (not one model validator) so a bad nodeCount does not hide a machine mismatch.
    @field_validator("machine_type")
    @classmethod
    def _known_machine(cls, value: str) -> str:
        problem = gpu_machine_problem(value, "", 0)
        if problem is not None and problem[0] == "machineType":
            raise issue(problem[1])
        return value

    @field_validator("accelerator_type")
    @classmethod
    def _machine_carries_type(cls, value: str, info: ValidationInfo) -> str:
        problem = gpu_machine_problem(info.data.get("machine_type", ""), value, 0)
        if problem is not None and problem[0] == "acceleratorType":
            raise issue(problem[1])
        return value

    @field_validator("accelerator_count")
    @classmethod
    def _machine_carries_count(cls, value: int, info: ValidationInfo) -> int:
        if "machine_type" in info.data and "accelerator_type" in info.data:
            problem = gpu_machine_problem(info.data["machine_type"], info.data["accelerator_type"], value)
            if problem is not None and problem[0] == "acceleratorCount":
                raise issue(problem[1])
        return value


class RegionConfig(ConfigModel):
    """One serving region: a GKE cluster in `region`, its pools in `zone`, its proxy-only subnet."""

    region: str = Field(description="GCP region of the cluster, e.g. europe-west3")
    zone: str = Field(description="zone in that region with GPU capacity, e.g. europe-west3-c")
    proxy_subnet_cidr: str = Field(
        description="proxy-only subnet range for the gateway's proxies, e.g. 10.0.0.0/23"
    )
    subnetwork: str | None = Field(
        None, description="node subnet of `network` in this region; required on custom-mode VPCs"
    )
    pods_cidr: str | None = Field(None, description="pod range (default: GKE picks one)")
    services_cidr: str | None = Field(None, description="service range (default: GKE picks one)")
    system_pool: SystemPoolConfig = Field(default_factory=SystemPoolConfig)
    gpu_pool: GpuPoolConfig = Field(default_factory=GpuPoolConfig)

    @field_validator("proxy_subnet_cidr", "pods_cidr", "services_cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError:
            try:
                base = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise issue(f"{value!r} is not a CIDR range; write it like 10.0.0.0/23") from None
            raise issue(f"{value} has host bits set; use {base}") from None
        if not isinstance(network, ipaddress.IPv4Network) or not network.is_private:
            raise issue(f"{value} must be a private IPv4 range (RFC 1918), e.g. 10.0.0.0/23")
        return str(network)

    @field_validator("proxy_subnet_cidr")
    @classmethod
    def _proxy_subnet_size(cls, value: str) -> str:
        prefix = ipaddress.IPv4Network(value).prefixlen
        if prefix > 26:
            raise issue(
                f"/{prefix} is too small for a proxy-only subnet; use /26 or larger (/23 recommended)"
            )
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if not is_known_region(value):
            hint = closest_regions(value)
            suggestion = f"did you mean {', '.join(hint)}?" if hint else "check the spelling"
            raise issue(f"unknown GCP region {value!r}; {suggestion}")
        return value

    @field_validator("zone")
    @classmethod
    def _zone_in_region(cls, value: str, info: ValidationInfo) -> str:
        region = info.data.get("region")
        if region is not None and value not in zones_of(region):
            home = region_of_zone(value)
            why = f"is in region {home!r}" if value in zones_of(home) else "is not a known zone"
            raise issue(f"{value!r} {why}, not in {region!r}; use one of {', '.join(zones_of(region))}")
        return value


class FleetConfig(ConfigModel):
    """Fleet (multi-cluster) settings. Setting `configCluster` turns the stack into a multi-cluster gateway."""

    config_cluster: str | None = Field(
        None, description="region key whose cluster hosts the Gateway/HTTPRoute (MCI config membership)"
    )


ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]


def _region_key(key: str) -> str:
    if not _REGION_KEY.match(key):
        raise issue(
            "a region key names its cluster: lowercase letters, digits and '-', starting with a letter, "
            "at most 24 characters (e.g. gke-west)"
        )
    return key


RegionKey = Annotated[str, AfterValidator(_region_key)]


class StackConfig(ConfigModel):
    """Everything the program builds, validated; read it through `load_stack_config`."""

    project: str = Field(description="GCP project id (the `gcp:project` key)")
    regions: dict[RegionKey, RegionConfig] = Field(description="serving regions keyed by cluster name")
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    gke_version: str = Field(MULTI_CLUSTER_MIN_VERSION, description="minimum GKE control-plane version")
    release_channel: ReleaseChannel = Field("RAPID", description="GKE release channel")
    network: str = Field("default", description="VPC every cluster and proxy-only subnet joins")
    deletion_protection: bool = Field(False, description="refuse `pulumi destroy` of clusters")
    labels: dict[str, str] = Field(default_factory=dict, description="labels on clusters and node pools")
    hf_token: SecretStr | None = Field(None, description="Hugging Face token (set it with --secret)")
    services: ServicesConfig | None = Field(
        None,
        description="model pools, objectives, routes, gateway and LB policy (components/config/services.py)",
    )

    @field_validator("project")
    @classmethod
    def _project_id(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", value):
            raise issue(
                f"{value!r} is not a GCP project id (6-30 lowercase letters, digits, hyphens); use the id, not the name"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _some_regions(cls, value: dict[str, RegionConfig]) -> dict[str, RegionConfig]:
        if not value:
            raise issue(
                "no regions; add one, e.g. regions.gke-west: {region: europe-west3, zone: europe-west3-c, proxySubnetCidr: 10.0.0.0/23}"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _gcp_labels(cls, value: dict[str, str]) -> dict[str, str]:
        issues: list[KeyIssue] = []
        for key, label in value.items():
            if not _LABEL_KEY.match(key):
                issues.append(
                    (
                        (key,),
                        "label keys are 1-63 lowercase letters, digits, '_' or '-', starting with a letter",
                    )
                )
            elif not _LABEL_VALUE.match(label):
                issues.append(
                    (
                        (key,),
                        f"label value {label!r} must be at most 63 lowercase letters, digits, '_' or '-'",
                    )
                )
        if issues:
            raise fail("labels", issues, value)
        return value

    @field_validator("hf_token")
    @classmethod
    def _empty_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        issues = [found for check in STACK_CHECKS for found in check(dict(self))]
        if issues:
            raise fail("StackConfig", issues, self)
        return self

    @property
    def multi_cluster(self) -> bool:
        return self.fleet.config_cluster is not None

    @property
    def proxy_subnet_purpose(self) -> ProxySubnetPurpose:
        # The cross-regional internal gateway needs GLOBAL proxies; the single-cluster classes
        # (gke-l7-regional-external-managed, gke-l7-rilb) need REGIONAL ones.
        return "GLOBAL_MANAGED_PROXY" if self.multi_cluster else "REGIONAL_MANAGED_PROXY"

    @property
    def min_gke_version(self) -> str:
        return MULTI_CLUSTER_MIN_VERSION if self.multi_cluster else SINGLE_CLUSTER_MIN_VERSION
