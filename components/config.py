"""The stack config: typed and validated once, before any resource is registered, by `load_stack_config`
(the one entry for `__main__.py` and the offline plan). Every problem is collected as `key.path: what to do`
and raised together in one ConfigError.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from components.config_sources import RawStackConfig, StackFileError, read_stack, read_stack_file
from components.gcp_locations import closest_regions, is_known_region, region_of_zone, zones_of
from components.gke_versions import MULTI_CLUSTER_MIN_VERSION, SINGLE_CLUSTER_MIN_VERSION, version_problem
from components.gpu_machines import gpu_machine_problem
from components.service_config import GpuSupply, ServicesConfig, placement_problems

PROJECT_KEY = "gcp:project"
# Exit status of `pulumi up` (the program) and `infgw plan` when the stack config is invalid.
CONFIG_ERROR_EXIT_CODE = 2
ProxySubnetPurpose = Literal["GLOBAL_MANAGED_PROXY", "REGIONAL_MANAGED_PROXY"]
# Auto-mode VPCs (the `default` network) carve every region's subnet out of this range.
AUTO_MODE_SUBNETS = ipaddress.IPv4Network("10.128.0.0/9")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
# The region key names the cluster, its fleet membership and `<key>-nodes`, a service account id
# (6-30 characters), hence at most 24 characters.
_REGION_KEY = re.compile(r"^[a-z]([-a-z0-9]{0,22}[a-z0-9])?$")


# ----------------------------------------------------------------------------------------------- errors
@dataclass(frozen=True, slots=True, order=True)
class ConfigProblem:
    """One thing wrong with the stack config: the key path as users write it, and what to do."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """Every problem found in one stack config; str() is one line per problem."""

    def __init__(self, problems: Iterable[ConfigProblem], source: str = "") -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(dict.fromkeys(problems))
        self.source = source
        super().__init__(self.report())

    def report(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def _issue(message: str) -> PydanticCustomError:
    return PydanticCustomError("stack_config", "{message}", {"message": message})


def _fail(title: str, issues: list[tuple[tuple[str | int, ...], str]], value: Any) -> ValidationError:
    """One ValidationError carrying every issue at its own key path (pydantic nests it under the parent)."""
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=_issue(message), loc=loc, input=value) for loc, message in issues]
    )


# ----------------------------------------------------------------------------------------------- models
class ConfigModel(BaseModel):
    """camelCase keys in YAML, snake_case in Python; unknown keys are errors (typos never pass silently)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class SystemPoolConfig(ConfigModel):
    """CPU nodes for system pods and the endpoint picker (kept off the Spot GPUs)."""

    machine_type: str = Field("e2-standard-8", description="CPU machine type, e.g. c2-standard-16 (seed 000)")
    node_count: int = Field(1, description="nodes in the region's zone")
    disk_type: str = Field("pd-balanced", description="boot disk type, e.g. pd-standard")
    disk_size_gb: int = Field(100, description="boot disk size in GB")

    @field_validator("node_count")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise _issue(f"must be at least 1, got {value}; the picker and system pods need a CPU node")
        return value

    @field_validator("disk_size_gb")
    @classmethod
    def _disk_size(cls, value: int) -> int:
        if value < 10:
            raise _issue(f"must be at least 10 (GKE's minimum boot disk), got {value}")
        return value


class GpuPoolConfig(ConfigModel):
    """The accelerator node pool serving the model (seed 000: a3-highgpu-2g, 2 x H100, Spot, 3 nodes)."""

    machine_type: str = Field("a3-highgpu-2g", description="GPU machine type")
    accelerator_type: str = Field("nvidia-h100-80gb", description="GPU type the machine type carries")
    accelerator_count: int = Field(2, description="GPUs per node; must match the machine type")
    node_count: int = Field(1, description="nodes in the region's zone")
    spot: bool = Field(True, description="Spot VMs (cheaper, preemptible; seed 000 uses them)")
    gpu_driver_version: Literal["LATEST", "DEFAULT"] = Field("LATEST", description="driver GKE installs")
    disk_type: str = Field("pd-ssd", description="boot disk type")
    disk_size_gb: int = Field(200, description="boot disk size in GB (model weights are cached here)")

    @field_validator("node_count")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise _issue(f"must be at least 1, got {value}; a region without GPU nodes serves nothing")
        return value

    # Field validators (not one model validator) so a bad nodeCount does not hide a machine mismatch.
    @field_validator("machine_type")
    @classmethod
    def _known_machine(cls, value: str) -> str:
        problem = gpu_machine_problem(value, "", 0)
        if problem is not None and problem[0] == "machineType":
            raise _issue(problem[1])
        return value

    @field_validator("accelerator_type")
    @classmethod
    def _machine_carries_type(cls, value: str, info: ValidationInfo) -> str:
        problem = gpu_machine_problem(info.data.get("machine_type", ""), value, 0)
        if problem is not None and problem[0] == "acceleratorType":
            raise _issue(problem[1])
        return value

    @field_validator("accelerator_count")
    @classmethod
    def _machine_carries_count(cls, value: int, info: ValidationInfo) -> int:
        if "machine_type" in info.data and "accelerator_type" in info.data:
            problem = gpu_machine_problem(info.data["machine_type"], info.data["accelerator_type"], value)
            if problem is not None and problem[0] == "acceleratorCount":
                raise _issue(problem[1])
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
                raise _issue(f"{value!r} is not a CIDR range; write it like 10.0.0.0/23") from None
            raise _issue(f"{value} has host bits set; use {base}") from None
        if not isinstance(network, ipaddress.IPv4Network) or not network.is_private:
            raise _issue(f"{value} must be a private IPv4 range (RFC 1918), e.g. 10.0.0.0/23")
        return str(network)

    @field_validator("proxy_subnet_cidr")
    @classmethod
    def _proxy_subnet_size(cls, value: str) -> str:
        prefix = ipaddress.IPv4Network(value).prefixlen
        if prefix > 26:
            raise _issue(
                f"/{prefix} is too small for a proxy-only subnet; use /26 or larger (/23 recommended)"
            )
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if not is_known_region(value):
            hint = closest_regions(value)
            suggestion = f"did you mean {', '.join(hint)}?" if hint else "check the spelling"
            raise _issue(f"unknown GCP region {value!r}; {suggestion}")
        return value

    @field_validator("zone")
    @classmethod
    def _zone_in_region(cls, value: str, info: ValidationInfo) -> str:
        region = info.data.get("region")
        if region is not None and value not in zones_of(region):
            home = region_of_zone(value)
            why = f"is in region {home!r}" if value in zones_of(home) else "is not a known zone"
            raise _issue(f"{value!r} {why}, not in {region!r}; use one of {', '.join(zones_of(region))}")
        return value


class FleetConfig(ConfigModel):
    """Fleet (multi-cluster) settings. Setting `configCluster` turns the stack into a multi-cluster gateway."""

    config_cluster: str | None = Field(
        None, description="region key whose cluster hosts the Gateway/HTTPRoute (MCI config membership)"
    )


ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]


def _region_key(key: str) -> str:
    if not _REGION_KEY.match(key):
        raise _issue(
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
        description="model pools, objectives, routes, gateway and LB policy (components/service_config.py)",
    )

    @field_validator("project")
    @classmethod
    def _project_id(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", value):
            raise _issue(
                f"{value!r} is not a GCP project id (6-30 lowercase letters, digits, hyphens); use the id, not the name"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _some_regions(cls, value: dict[str, RegionConfig]) -> dict[str, RegionConfig]:
        if not value:
            raise _issue(
                "no regions; add one, e.g. regions.gke-west: {region: europe-west3, zone: europe-west3-c, proxySubnetCidr: 10.0.0.0/23}"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _gcp_labels(cls, value: dict[str, str]) -> dict[str, str]:
        issues: list[tuple[tuple[str | int, ...], str]] = []
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
            raise _fail("labels", issues, value)
        return value

    @field_validator("hf_token")
    @classmethod
    def _empty_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        issues = [issue for check in STACK_CHECKS for issue in check(dict(self))]
        if issues:
            raise _fail("StackConfig", issues, self)
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


# ----------------------------------------------------------------------------------------- cross checks
# A check receives the top-level fields that validated (by field name) and yields (loc, message) pairs.
# It must tolerate missing fields: the loader also runs it when other fields failed, so one run
# reports every problem.
StackCheck = Callable[[Mapping[str, Any]], Iterator[tuple[tuple[str | int, ...], str]]]


def _check_config_cluster(parts: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
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


def _check_duplicate_regions(parts: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
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


def _check_overlapping_cidrs(parts: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
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


def _check_gke_version(parts: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
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


def _check_services(parts: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
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


# ---------------------------------------------------------------------------------------------- loading
def _key_path(loc: tuple[str | int, ...]) -> str:
    if loc and loc[0] == "project":
        return PROJECT_KEY
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid mapping key; the key itself is the path
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(stack config)"


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at the mapping that holds `loc[-1]` (for 'unknown key' messages)."""
    model: type[BaseModel] | None = StackConfig
    parent = loc[:-1]
    index = 0
    while model is not None and index < len(parent):
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == parent[index]), None
        )
        if field is None:
            return []
        annotation = field.annotation
        if typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
            index += 1  # skip the user's key (e.g. the region name)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        index += 1
    if model is None:
        return []
    return [
        field.alias or name
        for name, field in model.model_fields.items()
        if not (model is StackConfig and name == "project")
    ]


def _problem_from_error(error: Any) -> ConfigProblem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    key = _key_path(loc)
    kind = error["type"]
    if kind == "stack_config":
        return ConfigProblem(key, error["msg"])
    if kind == "missing":
        if key == PROJECT_KEY:
            return ConfigProblem(key, "missing; set it with `pulumi config set gcp:project <PROJECT_ID>`")
        return ConfigProblem(key, "missing; this key is required (see docs/configuration.md)")
    if kind == "extra_forbidden":
        known = _known_keys(loc)
        hint = f"; known keys here: {', '.join(known)}" if known else ""
        return ConfigProblem(key, f"unknown key{hint}")
    return ConfigProblem(key, f"{error['msg']} (got {error['input']!r})")


def _stack_data(raw: RawStackConfig) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Model input from raw config: project-namespace keys by name, plus gcp:project."""
    prefix = f"{raw.project}:"
    data: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    for full_key, value in raw.values.items():
        if full_key == PROJECT_KEY:
            data["project"] = value
        elif full_key.startswith(prefix):
            data[full_key.removeprefix(prefix)] = value
    for full_key in sorted(raw.required_keys - set(raw.values)):
        short = full_key.removeprefix(prefix)
        problems.append(
            ConfigProblem(
                short, "missing; Pulumi.yaml requires it in every stack (see docs/configuration.md)"
            )
        )
    return data, problems


# Region fields the cross checks read; a region that failed validation keeps those that passed.
_CROSS_CHECKED_REGION_FIELDS = ("region", "proxy_subnet_cidr", "pods_cidr", "services_cidr")


def _salvage_region(value: Any, error: ValidationError) -> RegionConfig | None:
    if not isinstance(value, Mapping):
        return None
    failed = {detail["loc"][0] for detail in error.errors() if detail["loc"]}
    kept: dict[str, Any] = {}
    for name in _CROSS_CHECKED_REGION_FIELDS:
        alias = RegionConfig.model_fields[name].alias or name
        if alias in value and alias not in failed:
            kept[name] = value[alias]
    # model_construct skips validation: only fields that just validated (or defaults) are set.
    return RegionConfig.model_construct(**kept)


def _partial_parts(data: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level fields (and single regions) that validate on their own, so cross checks still run."""
    parts: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        alias = field.alias or name
        if name == "regions":
            raw_regions = data.get(alias)
            if isinstance(raw_regions, Mapping):
                # Invalid regions stay as None: their names still count (e.g. for fleet.configCluster).
                valid: dict[str, RegionConfig | None] = {}
                for key, value in raw_regions.items():
                    try:
                        valid[str(key)] = RegionConfig.model_validate(value)
                    except ValidationError as error:
                        valid[str(key)] = _salvage_region(value, error)
                parts[name] = valid
            continue
        try:
            if alias in data:
                parts[name] = TypeAdapter(field.annotation).validate_python(data[alias])
            elif not field.is_required():
                parts[name] = field.get_default(call_default_factory=True)
        except ValidationError:
            continue
    return parts


def validate_stack_config(raw: RawStackConfig) -> StackConfig:
    """Validate raw config into a StackConfig, or raise ConfigError listing every problem."""
    data, problems = _stack_data(raw)
    try:
        config = StackConfig.model_validate(data)
    except ValidationError as error:
        problems += [_problem_from_error(detail) for detail in error.errors()]
        # Pydantic skips the model-level checks when a field fails; run them on what did validate
        # (when they did run, this repeats their problems, which ConfigError drops as duplicates).
        parts = _partial_parts(data)
        problems += [
            ConfigProblem(_key_path(loc), message) for check in STACK_CHECKS for loc, message in check(parts)
        ]
        raise ConfigError(problems, source=raw.source) from None
    if problems:
        raise ConfigError(problems, source=raw.source)
    return config


def load_stack_config(source: str | Path | RawStackConfig, project_dir: Path | None = None) -> StackConfig:
    """The validated config of a stack name ('dev'), a stack file path, or raw config from the engine.

    Raises ConfigError (every problem, one per line) for bad values and for unreadable files.
    """
    try:
        if isinstance(source, RawStackConfig):
            raw = source
        elif isinstance(source, Path) or source.endswith((".yaml", ".yml")):
            raw = read_stack_file(Path(source), project_dir)
        else:
            raw = read_stack(source, project_dir)
    except StackFileError as error:
        raise ConfigError([ConfigProblem("stack file", str(error))]) from None
    return validate_stack_config(raw)


def exit_on_config_error(error: ConfigError) -> NoReturn:
    """Print one line per problem to stderr and exit 2: the contract for bad config, no traceback."""
    for problem in error.problems:
        print(problem, file=sys.stderr)
    raise SystemExit(CONFIG_ERROR_EXIT_CODE)
