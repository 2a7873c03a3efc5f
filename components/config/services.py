"""The `services` section of the stack config: model pools, objectives, routes, gateway and LB policy.

Pure pydantic: validated once by the composition root, before any resource exists. Every cross-field
error names its key path (for example `services.objectives[1].pool`) and the fix.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from picker.plugins.kv_event_prefix_index import KVEventIndexParameters, kv_event_parameters
from picker.preflight import ConfigError as PickerConfigError
from picker.preflight import check_config_text
from picker.profiles import PROFILE_NAMES, profile_text
from pydantic import Field, field_validator, model_validator

from components.config.base import ConfigModel, KeyIssue, fail
from components.crds.api_versions import INFERENCE_EXTENSION_RELEASE

# Oldest vLLM that exports `vllm:kv_cache_usage_perc`, the metric the LB's kv-cache signal reads.
MIN_VLLM_VERSION = (0, 10, 2)
DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.13.0"
DEFAULT_LORA_SYNCER_IMAGE = (
    f"registry.k8s.io/gateway-api-inference-extension/lora-syncer:{INFERENCE_EXTENSION_RELEASE}"
)

DEFAULT_BBR_IMAGE = f"registry.k8s.io/gateway-api-inference-extension/bbr:{INFERENCE_EXTENSION_RELEASE}"
SINGLE_CLUSTER_GATEWAY_CLASSES = ("gke-l7-regional-external-managed", "gke-l7-rilb")
MULTI_CLUSTER_GATEWAY_CLASS = "gke-l7-cross-regional-internal-managed-mc"

# DNS-1123 label; pool names also prefix the picker's objects (`<pool>-epp`), hence 59 characters.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# An active-active picker's peers Service is `<pool>-epp-peers` (components.specs.picker_workload), 63 at most.
_ACTIVE_ACTIVE_POOL_NAME_MAX = 53
_FLOATING_TAGS = frozenset({"latest", "main", "master", "nightly", "dev", "edge", "stable"})
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def pinned_image_problem(image: str) -> str | None:
    """Why `image` is not pinned to a version or digest, or None when it is."""
    if _DIGEST.search(image):
        return None
    last_segment = image.rsplit("/", 1)[-1]
    if ":" not in last_segment:
        return f"image {image!r} has no tag; pin a version (name:v1.2.3) or a digest (name@sha256:...)"
    tag = last_segment.rsplit(":", 1)[1]
    if tag.lower() in _FLOATING_TAGS:
        return f"image {image!r} uses the floating tag {tag!r}; pin a version (name:v1.2.3) or a digest"
    return None


def _image_version(image: str) -> tuple[int, ...] | None:
    last_segment = image.rsplit("/", 1)[-1]
    if _DIGEST.search(image) or ":" not in last_segment:
        return None
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", last_segment.rsplit(":", 1)[1])
    if match is None:
        return None
    return tuple(int(part or 0) for part in match.groups())


class LoraAdapter(ConfigModel):
    """One adapter the syncer keeps loaded; `id` is the model name clients send."""

    id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="model name clients send to use this adapter (unique per pool)",
    )
    source: str = Field(min_length=1, description="Hugging Face repo (owner/name) or path of the adapter")


class LoraSpec(ConfigModel):
    max_loras: int = Field(default=2, ge=1, description="adapters resident on the GPU at once (--max-loras)")
    max_cpu_loras: int = Field(
        default=12, ge=1, description="adapters cached in host memory (--max-cpu-loras)"
    )
    max_lora_rank: int = Field(
        default=16, ge=1, le=512, description="highest adapter rank vLLM accepts (--max-lora-rank; vLLM's default)"
    )
    adapters: list[LoraAdapter] = Field(default_factory=list)
    syncer_image: str = Field(DEFAULT_LORA_SYNCER_IMAGE, description="LoRA syncer sidecar image, pinned")

    @model_validator(mode="after")
    def _check(self) -> LoraSpec:
        issues: list[KeyIssue] = []
        seen: dict[str, int] = {}
        for index, adapter in enumerate(self.adapters):
            if adapter.id in seen:
                issues.append(
                    (
                        ("adapters", index, "id"),
                        f"adapter id {adapter.id!r} is already used by adapters[{seen[adapter.id]}]; "
                        "give every adapter a unique id",
                    )
                )
            seen.setdefault(adapter.id, index)
        if self.max_cpu_loras < self.max_loras:
            issues.append(
                (
                    ("maxCpuLoras",),
                    f"maxCpuLoras ({self.max_cpu_loras}) must be >= maxLoras ({self.max_loras})",
                )
            )
        if problem := pinned_image_problem(self.syncer_image):
            issues.append((("syncerImage",), problem))
        if issues:
            raise fail("LoraSpec", issues, self.model_dump(by_alias=True))
        return self


class DrainSpec(ConfigModel):
    """Inputs of the seed's drain-time formula for terminationGracePeriodSeconds.

    decode = max_output_tokens x tpot; + prefill share; + preStop sleep; x (1 + safety buffer).
    """

    max_output_tokens: int = Field(default=4096, ge=1, description="longest output a request may generate")
    tpot_ms: float = Field(default=10.0, gt=0, description="time per output token at maximum batch")
    prefill_overhead_ratio: float = Field(
        default=0.4, ge=0, description="extra drain time for prompt processing"
    )
    pre_stop_s: int = Field(default=30, ge=0, description="preStop sleep: LB drain propagation time")
    safety_buffer_ratio: float = Field(
        default=0.5, ge=0, description="margin on top of the computed drain time"
    )

    @property
    def termination_grace_period_s(self) -> int:
        decode_s = self.max_output_tokens * self.tpot_ms / 1000.0
        drain_s = decode_s * (1.0 + self.prefill_overhead_ratio) + self.pre_stop_s
        return math.ceil(drain_s * (1.0 + self.safety_buffer_ratio))


PickerProfile = Literal["recommended", "default", "precise", "llm-d-default"]
PickerHaMode = Literal["auto", "active-active", "leader-election"]
MAX_PICKER_REPLICAS = 10
assert set(typing.get_args(PickerProfile)) == set(PROFILE_NAMES), "the stack offers the picker's profiles"


class PickerPoolSpec(ConfigModel):
    """The pool's endpoint picker: replicas and its EndpointPickerConfig, a shipped profile or your own.

    The config is checked by the picker's own loader and plugin builder (``picker.preflight``), so the stack
    refuses exactly what the picker would refuse at start, with the same key paths.
    """

    replicas: int = Field(
        default=1,
        ge=1,
        le=MAX_PICKER_REPLICAS,
        description="picker replicas; with more than 1, haMode decides whether all serve or one leader does",
    )
    ha_mode: PickerHaMode = Field(
        "auto",
        description="with replicas > 1: active-active (every replica serves and shares its placements with the "
        "others over UDP 9004; only for a config that routes on the model servers' KV events, whose view is the "
        "same in every replica), leader-election (one "
        "serves, the others stand by), or auto (active-active for event-driven configs such as the precise "
        "profile, else leader-election)",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="worker processes per picker pod (--workers; one per core: the pod requests that many "
        "CPUs); each serves the ext_proc port with scheduling state of its own; 1 with active-active replicas "
        "(their placement sharing runs with one worker each)",
    )
    profile: PickerProfile = Field(
        "recommended",
        description="shipped EndpointPickerConfig: recommended (this project's), default (the EPP's), "
        "precise (routes on the model servers' KV-cache events), or llm-d-default (llm-d's guide default on "
        "llm-d-router v0.10, sticky until saturated)",
    )
    config: dict[str, Any] | None = Field(
        None, description="your own EndpointPickerConfig (instead of profile), as the picker's --config-file"
    )
    log_verbosity: int = Field(default=1, ge=0, le=5, description="picker --v")

    @model_validator(mode="after")
    def _check(self) -> PickerPoolSpec:
        issues: list[KeyIssue] = []
        if self.config is not None and "profile" in self.model_fields_set:
            issues.append((("profile",), "set either profile or config, not both"))
        elif self.config is not None:
            try:
                check_config_text(self.config_text)
            except PickerConfigError as error:
                issues += [(("config", *_picker_path(issue.path)), issue.message) for issue in error.issues]
        if not issues and (events := self.kv_events) is not None and events.kv_events_config.zmq_endpoint:
            issues.append((
                ("config",),
                "kvEventsConfig.zmqEndpoint (servers connecting to one picker socket) is for local runs; in a "
                "cluster the picker dials each model server's publisher (podDiscoveryConfig): remove it",
            ))
        if not issues and self.ha_mode == "active-active" and self.kv_events is None:
            issues.append((
                ("haMode",),
                "active-active needs a config that routes on the model servers' KV events (profile precise): "
                "with approximate prefix state every replica learns from its own share of the traffic and "
                "cache affinity drops (docs/picker.md, High availability); use haMode auto or leader-election",
            ))
        if not issues and self.active_active and self.workers > 1:
            issues.append((("workers",), self._workers_with_active_active()))
        if issues:
            raise fail("PickerPoolSpec", issues, self.model_dump(by_alias=True))
        return self

    def _workers_with_active_active(self) -> str:
        """Refused rather than deployed unshared: the picker shares placements between replicas with one
        worker each only, and unshared replicas were measured to split prefix groups (docs/picker.md)."""
        replicas = min(self.replicas * self.workers, MAX_PICKER_REPLICAS)
        return (
            f"workers {self.workers} with replicas {self.replicas} serving active-active: the replicas share their "
            "placements over UDP (--placement-port), which the picker runs with --workers 1 only. Set workers: 1 "
            f"and replicas: {replicas} (as many serving processes, placements shared), or haMode: leader-election "
            f"(one replica serves; its {self.workers} workers share among themselves). Unshared, two precise "
            "replicas measured 1.4-3.8 (shared-prefix) and 6.7-8.3 (capacity-bound) hit-rate points below one "
            "picker; shared, 0.0 and 0.1-5.3 (docs/picker.md, The active-active rule)"
        )

    @property
    def elects_leader(self) -> bool:
        """More than one replica, and only one may serve: an approximate config, or haMode leader-election."""
        if self.replicas == 1 or self.ha_mode == "active-active":
            return False
        return self.ha_mode == "leader-election" or self.kv_events is None

    @property
    def active_active(self) -> bool:
        """More than one replica, all serving: they share their placements (`--placement-port`, a headless
        Service naming the peers), with one worker each (more are refused)."""
        return self.replicas > 1 and not self.elects_leader

    @property
    def config_text(self) -> str:
        """The picker's --config-file, byte for byte: the ConfigMap and the local gateway both use it."""
        if self.config is None:
            return profile_text(self.profile)
        return yaml.safe_dump(self.config, sort_keys=False)

    @property
    def kv_events(self) -> KVEventIndexParameters | None:
        """The precise prefix-cache scorer's settings when the config routes on the model servers' KV-cache
        events (their publisher ports and the tokenizer), else None."""
        return kv_event_parameters(check_config_text(self.config_text))


def _picker_path(path: str) -> tuple[str, ...]:
    """The picker's ``plugins[2].parameters`` as one key-path part (it is already written as users read it)."""
    return (path,) if path else ()


class HpaSpec(ConfigModel):
    """Model-server HPA on a pod metric read through Managed Prometheus' custom-metrics adapter."""

    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(ge=1)
    metric: Literal["queue-depth", "kv-cache"] = Field(
        "queue-depth", description="vllm:num_requests_waiting or vllm:kv_cache_usage_perc"
    )
    # Average per pod: waiting requests for queue-depth, a 0..1 ratio for kv-cache.
    target_value: float = Field(
        gt=0, description="per-pod average: waiting requests, or a 0..1 KV-cache ratio"
    )

    @model_validator(mode="after")
    def _check(self) -> HpaSpec:
        issues: list[KeyIssue] = []
        if self.max_replicas < self.min_replicas:
            issues.append((("maxReplicas",), f"maxReplicas ({self.max_replicas}) must be >= minReplicas"))
        if self.metric == "kv-cache" and self.target_value > 1:
            issues.append((("targetValue",), "kv-cache target is a ratio in (0, 1], e.g. 0.8"))
        if issues:
            raise fail("HpaSpec", issues, self.model_dump(by_alias=True))
        return self


class PoolSpec(ConfigModel):
    """One base model served by vLLM replicas behind one InferencePool and one picker."""

    name: str = Field(
        max_length=59, pattern=_DNS_LABEL, description="InferencePool, Deployment and label name (DNS label)"
    )
    model: str = Field(min_length=1, description="Hugging Face model id vLLM serves")
    image: str = Field(DEFAULT_VLLM_IMAGE, description="vLLM image, pinned, >= v0.10.2")
    replicas: int = Field(default=3, ge=0, description="model-server replicas (ignored with autoscaling)")
    port: int = Field(default=8000, ge=1, le=65535, description="vLLM port: InferencePool target port")
    gpus_per_replica: int = Field(
        default=1, ge=1, le=16, description="GPUs per replica (requests = limits, tensor parallel size)"
    )
    accelerator: str = Field("nvidia-h100-80gb", description="node selector cloud.google.com/gke-accelerator")
    max_model_len: int | None = Field(default=None, ge=1, description="vLLM --max-model-len")
    scheduling_policy: Literal["fcfs", "priority"] = Field(
        "fcfs",
        description="vLLM --scheduling-policy; priority also makes the picker pass each objective's priority "
        "to vLLM (picker --model-server-scheduling-policy)",
    )
    max_num_seqs: int = Field(
        default=1024,
        ge=1,
        description="vLLM --max-num-seqs: sequences batched at once (upstream manifests: 1024)",
    )
    # Download + load time before the startup probe gives up; too low and big models crash-loop.
    startup_timeout_s: int = Field(
        default=600, ge=10, description="seconds the startup probe waits for /health"
    )
    # Part of `pulumi up`'s wait for the Deployment (components/rollout_budget.py): a vLLM image is ~10 GB.
    image_pull_s: int = Field(
        default=600, ge=0, description="seconds a node may take to pull the vLLM image (first rollout)"
    )
    extra_args: list[str] = Field(default_factory=list, description="more vLLM flags, appended as given")
    lora: LoraSpec | None = Field(None, description="serve LoRA adapters (--enable-lora + syncer sidecar)")
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        "FailClose", description="what the gateway does when the picker is unreachable"
    )
    drain: DrainSpec = Field(default_factory=DrainSpec)
    picker: PickerPoolSpec = Field(default_factory=PickerPoolSpec)
    autoscaling: HpaSpec | None = Field(None, description="HPA on a vLLM metric instead of fixed replicas")

    @field_validator("image")
    @classmethod
    def _vllm_image(cls, image: str) -> str:
        if problem := pinned_image_problem(image):
            raise ValueError(problem)
        version = _image_version(image)
        if version is not None and version < MIN_VLLM_VERSION:
            minimum = ".".join(map(str, MIN_VLLM_VERSION))
            raise ValueError(
                f"vLLM {'.'.join(map(str, version))} predates {minimum}, which first exports "
                f"vllm:kv_cache_usage_perc (the LB's kv-cache signal); use vllm/vllm-openai:v{minimum} or newer"
            )
        return image

    @model_validator(mode="after")
    def _check(self) -> PoolSpec:
        if self.picker.active_active and len(self.name) > _ACTIVE_ACTIVE_POOL_NAME_MAX:
            message = (
                f"{len(self.name)} characters: a pool whose picker replicas run active-active also names their "
                f"peers Service <name>-epp-peers, so use at most {_ACTIVE_ACTIVE_POOL_NAME_MAX} characters"
            )
            raise fail("PoolSpec", [(("name",), message)], self.model_dump(by_alias=True))
        return self

    @property
    def served_model_names(self) -> list[str]:
        """Every model name a client may send to this pool: the base model and each adapter."""
        return [self.model, *(adapter.id for adapter in (self.lora.adapters if self.lora else []))]


class ObjectiveSpec(ConfigModel):
    name: str = Field(
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="clients select it with header x-gateway-inference-objective",
    )
    priority: int = Field(0, description="higher is more important; negative is sheddable")
    pool: str = Field(description="name of a pool under services.pools")


class WeightedPool(ConfigModel):
    pool: str = Field(description="name of a pool under services.pools")
    weight: int = Field(default=1, ge=0, le=1_000_000, description="relative share, e.g. 90 and 10")


class MirrorSpec(ConfigModel):
    pool: str = Field(description="pool that receives a copy of the traffic (responses dropped)")
    percent: int = Field(default=100, ge=1, le=100, description="share of requests mirrored")


class RouteSpec(ConfigModel):
    """Traffic for the listed model names (all traffic when empty) split across pools by weight."""

    name: str = Field(max_length=253, pattern=_DNS_LABEL, description="HTTPRoute name")
    models: list[str] = Field(
        default_factory=list, description="body `model` values this route takes (via the body-based router)"
    )
    path_prefix: str = Field("/", description="path prefix the route matches")
    backends: list[WeightedPool] = Field(min_length=1, max_length=16, description="pools and their weights")
    mirror: MirrorSpec | None = Field(None, description="copy traffic to another pool")


class GatewaySpec(ConfigModel):
    name: str = Field(
        default="inference-gateway", max_length=253, pattern=_DNS_LABEL, description="Gateway name"
    )
    # Single cluster: one of SINGLE_CLUSTER_GATEWAY_CLASSES. Multi-cluster always uses the cross-regional class.
    gateway_class: Literal["gke-l7-regional-external-managed", "gke-l7-rilb"] = (
        "gke-l7-regional-external-managed"
    )
    port: int = Field(default=80, ge=1, le=65535, description="HTTP listener port")


class CustomMetricsBalancing(ConfigModel):
    metric: str = Field(
        default="kv-cache",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,62}[a-z0-9])?$",
        description="exported metric name (gke.named_metrics.<metric>)",
    )
    max_utilization_percent: int = Field(default=60, description="target utilization, integer percent 1..100")
    dry_run: bool = False

    @field_validator("max_utilization_percent")
    @classmethod
    def _percent(cls, value: int) -> int:
        if not 1 <= value <= 100:
            raise ValueError(
                f"maxUtilizationPercent is an integer percent in 1..100 (got {value}); GKE recommends starting at 60"
            )
        return value


class InFlightBalancing(ConfigModel):
    max_requests_per_endpoint: int = Field(ge=1, description="in-flight requests one replica can hold")
    dry_run: bool = False


class BackendPolicySpec(ConfigModel):
    """GCPBackendPolicy: exactly one balancing mode; timeout at least twice the estimated p99 latency."""

    timeout_s: int = Field(default=600, ge=1, le=3600, alias="timeoutSec", description="LB backend timeout")
    p99_latency_s: float | None = Field(
        default=None,
        gt=0,
        alias="p99LatencySec",
        description="estimated p99 latency; timeoutSec must be >= 2x",
    )
    custom_metrics: CustomMetricsBalancing | None = Field(None, description="balance on an exported metric")
    in_flight: InFlightBalancing | None = Field(None, description="balance on in-flight requests")
    logging: bool = Field(True, description="LB request logging")

    @model_validator(mode="after")
    def _check(self) -> BackendPolicySpec:
        issues: list[KeyIssue] = []
        if self.custom_metrics is not None and self.in_flight is not None:
            issues.append(
                (
                    ("inFlight",),
                    "customMetrics and inFlight are mutually exclusive balancing modes; keep exactly one",
                )
            )
        if self.p99_latency_s is not None and self.timeout_s < 2 * self.p99_latency_s:
            issues.append(
                (
                    ("timeoutSec",),
                    f"timeoutSec ({self.timeout_s}) must be at least 2 x p99LatencySec "
                    f"({self.p99_latency_s:g}); set it to {math.ceil(2 * self.p99_latency_s)} or more",
                )
            )
        if issues:
            raise fail("BackendPolicySpec", issues, self.model_dump(by_alias=True))
        return self

    @property
    def balancing(self) -> CustomMetricsBalancing | InFlightBalancing:
        """The configured mode; custom metrics on kv-cache at 60 % when none is set (GKE's advice)."""
        return self.in_flight or self.custom_metrics or CustomMetricsBalancing()


class HealthCheckSpec(ConfigModel):
    path: str = Field("/health", description="model-server health path (LB check and probes)")
    check_interval_s: int = Field(default=5, ge=1, le=300, alias="checkIntervalSec")
    timeout_s: int = Field(default=5, ge=1, le=300, alias="timeoutSec", description="<= checkIntervalSec")

    @model_validator(mode="after")
    def _check(self) -> HealthCheckSpec:
        if self.timeout_s > self.check_interval_s:
            raise fail(
                "HealthCheckSpec",
                [
                    (
                        ("timeoutSec",),
                        f"timeoutSec ({self.timeout_s}) must be <= checkIntervalSec ({self.check_interval_s})",
                    )
                ],
                self.model_dump(by_alias=True),
            )
        return self


class MonitoringSpec(ConfigModel):
    pod_monitoring: bool = Field(
        default=True, description="Managed Prometheus scrape of the pickers (Google's single-cluster Inference Gateway tutorial)"
    )
    autoscaling_metric: bool = Field(default=True, description="export KV-cache usage to the LB (Google's multi-cluster Inference Gateway guide)")
    scrape_interval: str = Field(
        default="10s", pattern=r"^[0-9]+(ms|s|m)$", description="PodMonitoring interval"
    )
    dashboard: bool = Field(
        default=False, description="Cloud Monitoring dashboard: requests, latency, errors, queue, KV cache"
    )


class BodyBasedRouterSpec(ConfigModel):
    """The body-based router, deployed next to the gateway when a route matches on model names."""

    image: str = Field(DEFAULT_BBR_IMAGE, description="body-based router image, pinned")
    replicas: int = Field(default=1, ge=1, le=10)

    @field_validator("image")
    @classmethod
    def _pinned(cls, image: str) -> str:
        if problem := pinned_image_problem(image):
            raise ValueError(problem)
        return image


class ModelArmorSpec(ConfigModel):
    """Model Armor screens prompts and responses at the gateway (a GCPTrafficExtension to its API)."""

    template_id: str = Field(
        default="inference-gateway", pattern=r"^[a-z]([-a-z0-9_]{0,61}[a-z0-9])?$", description="template id"
    )
    location: str | None = Field(
        default=None, description="Model Armor region (default: the gateway cluster's region)"
    )
    confidence_level: Literal["LOW_AND_ABOVE", "MEDIUM_AND_ABOVE", "HIGH"] = Field(
        "MEDIUM_AND_ABOVE", description="lowest detection confidence that blocks (injection, jailbreak, RAI)"
    )
    models: list[str] = Field(
        default_factory=list, description="model names to screen (default: every model via `default`)"
    )
    fail_open: bool = Field(
        False, description="let traffic through unscreened when Model Armor is unreachable"
    )
    timeout_ms: int = Field(
        default=1000, ge=10, le=10_000, description="callout timeout (GKE allows 10..10000 ms)"
    )
    project_number: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6,20}$",
        description="project number: grants the Service Extensions agent its Model Armor roles when set",
    )


class PickerImageSpec(ConfigModel):
    """Where the picker image comes from: built from picker/ and pushed (the default), or a pinned `image`."""

    image: str | None = Field(
        None, description="a pinned picker image (tag or digest) to run instead of building one"
    )
    repository: str = Field(
        default="inference-gateway", pattern=_DNS_LABEL, description="Artifact Registry repo id for the build"
    )

    @field_validator("image")
    @classmethod
    def _pinned(cls, image: str | None) -> str | None:
        if image is not None and (problem := pinned_image_problem(image)):
            raise ValueError(problem)
        return image

    @property
    def build(self) -> bool:
        """No image given: `pulumi up` builds picker/Dockerfile, tagged with the build context's digest."""
        return self.image is None


class ServicesConfig(ConfigModel):
    """Everything InferenceService renders in every target cluster (and the config cluster's gateway)."""

    namespace: str = Field(
        default="default",
        max_length=63,
        pattern=_DNS_LABEL,
        description="namespace of every object (created if not default)",
    )
    hf_token_secret: str = Field(default="hf-token", pattern=_DNS_LABEL, description="Kubernetes Secret name")
    picker: PickerImageSpec = Field(default_factory=PickerImageSpec)
    pools: list[PoolSpec] = Field(min_length=1, description="base models, one InferencePool + picker each")
    objectives: list[ObjectiveSpec] = Field(default_factory=list, description="InferenceObjectives")
    routes: list[RouteSpec] = Field(
        default_factory=list,
        description="default: all traffic to a lone pool; else one route per pool by model",
    )
    gateway: GatewaySpec = Field(default_factory=GatewaySpec)
    backend_policy: BackendPolicySpec = Field(default_factory=BackendPolicySpec)
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    body_based_router: BodyBasedRouterSpec = Field(default_factory=BodyBasedRouterSpec)
    model_armor: ModelArmorSpec | None = Field(
        None, description="screen prompts and responses with Model Armor"
    )

    @model_validator(mode="after")
    def _check_references(self) -> ServicesConfig:
        issues: list[KeyIssue] = []
        pool_names = [pool.name for pool in self.pools]
        known = ", ".join(pool_names)

        for index, name in enumerate(pool_names):
            if name in pool_names[:index]:
                issues.append(
                    (("pools", index, "name"), f"pool name {name!r} is used twice; pool names are unique")
                )

        def check_pool_ref(loc: tuple[str | int, ...], pool: str) -> None:
            if pool not in pool_names:
                issues.append(
                    (
                        loc,
                        f"unknown pool {pool!r}; use one of the pools defined under services.pools: {known}",
                    )
                )

        objective_names: set[str] = set()
        for index, objective in enumerate(self.objectives):
            check_pool_ref(("objectives", index, "pool"), objective.pool)
            if objective.name in objective_names:
                issues.append(
                    (("objectives", index, "name"), f"objective {objective.name!r} is defined twice")
                )
            objective_names.add(objective.name)

        route_names: set[str] = set()
        for r_index, route in enumerate(self.routes):
            if route.name in route_names:
                issues.append((("routes", r_index, "name"), f"route {route.name!r} is defined twice"))
            route_names.add(route.name)
            for b_index, backend in enumerate(route.backends):
                check_pool_ref(("routes", r_index, "backends", b_index, "pool"), backend.pool)
            if sum(backend.weight for backend in route.backends) == 0:
                issues.append(
                    (("routes", r_index, "backends"), "all backend weights are 0; give one a weight > 0")
                )
            if route.mirror is not None:
                check_pool_ref(("routes", r_index, "mirror", "pool"), route.mirror.pool)

        if issues:
            raise fail("ServicesConfig", issues, self.model_dump(by_alias=True))
        return self

    def pool(self, name: str) -> PoolSpec:
        return next(pool for pool in self.pools if pool.name == name)

    @property
    def effective_routes(self) -> list[RouteSpec]:
        """Configured routes, or the defaults: everything to a lone pool; one route per pool by model name."""
        if self.routes:
            return list(self.routes)
        if len(self.pools) == 1:
            return [RouteSpec(name=self.pools[0].name, backends=[WeightedPool(pool=self.pools[0].name)])]
        return [
            RouteSpec(name=pool.name, models=pool.served_model_names, backends=[WeightedPool(pool=pool.name)])
            for pool in self.pools
        ]

    @property
    def needs_body_based_routing(self) -> bool:
        """Model-name matches need the body-based router to copy the body's `model` into a header."""
        return any(route.models for route in self.effective_routes)


@dataclass(frozen=True, slots=True)
class GpuSupply:
    """One cluster's GPU node pool: accelerator type, GPUs per node, nodes."""

    accelerator: str
    per_node: int
    nodes: int


def gpu_demand(pool: PoolSpec) -> int:
    """Replicas the pool may run at once: the fixed count, or the autoscaler's maximum."""
    return pool.autoscaling.max_replicas if pool.autoscaling is not None else pool.replicas


def unplaced_replicas(pools: list[PoolSpec], supply: GpuSupply) -> dict[str, int]:
    """Replicas per pool that find no node, packing whole replicas onto nodes (largest first, first fit):
    a replica's GPUs must all be on one node."""
    free = [supply.per_node] * supply.nodes
    unplaced: dict[str, int] = {}
    replicas = sorted(
        ((pool.gpus_per_replica, pool.name) for pool in pools for _ in range(gpu_demand(pool))), reverse=True
    )
    for gpus, name in replicas:
        node = next((index for index, left in enumerate(free) if left >= gpus), None)
        if node is None:
            unplaced[name] = unplaced.get(name, 0) + 1
        else:
            free[node] -= gpus
    return unplaced


def placement_problems(
    services: ServicesConfig, multi_cluster: bool, gpu_pools: Mapping[str, GpuSupply]
) -> Iterator[KeyIssue]:
    """Stack-level checks of `services` against the clusters every pool is deployed to.

    `gpu_pools` maps each cluster to its GPU pool. Every pool runs in every cluster, so each cluster must
    hold all pools' replicas at once: a replica that fits nowhere stays Pending and `pulumi up` waits for
    it until its timeout.
    """
    if multi_cluster and "gateway_class" in services.gateway.model_fields_set:
        yield (
            ("services", "gateway", "gatewayClass"),
            f"a multi-cluster stack always uses {MULTI_CLUSTER_GATEWAY_CLASS}; remove this key",
        )
    for cluster, supply in gpu_pools.items():
        fitting: list[PoolSpec] = []
        for index, pool in enumerate(services.pools):
            if pool.accelerator != supply.accelerator:
                yield (
                    ("services", "pools", index, "accelerator"),
                    f"{pool.accelerator} but regions.{cluster}.gpuPool has {supply.accelerator}; pods would "
                    f"never schedule there: set accelerator: {supply.accelerator}",
                )
            elif pool.gpus_per_replica > supply.per_node:
                yield (
                    ("services", "pools", index, "gpusPerReplica"),
                    f"{pool.gpus_per_replica} GPUs per replica, but a regions.{cluster}.gpuPool node has "
                    f"{supply.per_node}; use at most {supply.per_node} or a larger machine type",
                )
            else:
                fitting.append(pool)
        unplaced = unplaced_replicas(fitting, supply)
        for index, pool in enumerate(services.pools):
            if pool.name not in unplaced:
                continue
            demand = sum(gpu_demand(p) * p.gpus_per_replica for p in fitting)
            key = "autoscaling.maxReplicas" if pool.autoscaling is not None else "replicas"
            yield (
                ("services", "pools", index, *key.split(".")),
                f"{unplaced[pool.name]} of {gpu_demand(pool)} replicas ({pool.gpus_per_replica} GPU each) find no "
                f"GPU in regions.{cluster}.gpuPool ({supply.nodes} nodes x {supply.per_node} GPUs; all pools "
                f"ask {demand}): they would stay Pending and `pulumi up` would wait for them until it times "
                f"out; lower {key} or raise regions.{cluster}.gpuPool.nodeCount",
            )
