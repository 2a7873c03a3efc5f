"""The EndpointPickerConfig file format as pydantic models, both generations in one schema.

``inference.networking.x-k8s.io/v1alpha1`` is GIE v1.1's form; ``llm-d.ai/v1alpha1`` is llm-d-router v0.10's,
which adds ``featureGates``, the band-based ``flowControl`` keys, ``dataLayer`` and ``requestHandler``. Both
are read by the same models (the v0.10 keys are optional fields here); unknown keys are errors in both, as
the EPP decodes strictly. Keys v0.10 accepts but this picker does not act on are reported by
:func:`inert_keys` (the loader logs each once). This module checks shape and cross-references; plugin
types, parameters and the defaulting rules that need plugin kinds are applied by ``picker.config.builder``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from picker.config.durations import parse_duration_s
from picker.config.errors import ConfigIssue

API_VERSION: Final = "inference.networking.x-k8s.io/v1alpha1"
LLM_D_API_VERSION: Final = "llm-d.ai/v1alpha1"  # llm-d-router v0.10
KIND: Final = "EndpointPickerConfig"

# llm-d-router v0.10's registered feature gates and their defaults (cmd/epp/runner/runner.go).
FLOW_CONTROL_GATE: Final = "flowControl"
HA_POPULATE_NON_LEADER_GATE: Final = "haPopulateNonLeaderDatastore"
FEATURE_GATE_DEFAULTS: Final = {FLOW_CONTROL_GATE: False, HA_POPULATE_NON_LEADER_GATE: True}

# Flow-control policy plugins v0.10 injects by these names; what this picker does is fixed (see FlowController).
DEFAULT_FAIRNESS_POLICY: Final = "global-strict-fairness-policy"
DEFAULT_ORDERING_POLICY: Final = "fcfs-ordering-policy"
DEFAULT_SATURATION_DETECTOR: Final = "utilization-detector"
BAND_DEFAULT_MAX_REQUESTS: Final = 5000  # v0.10 per priority band
BAND_DEFAULT_MAX_BYTES: Final = 1_000_000_000  # v0.10 per priority band (1G)
DEFAULT_REQUEST_TTL_S: Final = 60.0  # v0.10's defaultRequestTTL
_QUANTITY_SUFFIXES: Final = {
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}

DurationSeconds = Annotated[float, BeforeValidator(parse_duration_s)]


def _parse_quantity(value: object) -> object:
    """Kubernetes quantities as v0.10's byte limits take them: ``1000``, ``"512Mi"``, ``"1G"``."""
    if isinstance(value, str):
        text = value.strip()
        for suffix in sorted(_QUANTITY_SUFFIXES, key=len, reverse=True):
            if text.endswith(suffix) and text[: -len(suffix)].isdigit():
                return int(text[: -len(suffix)]) * _QUANTITY_SUFFIXES[suffix]
        if text.isdigit():
            return int(text)
        raise ValueError(f"{value!r} is not a byte quantity; write e.g. 1000000, '512Mi' or '1G'")
    return value


ByteQuantity = Annotated[int, BeforeValidator(_parse_quantity)]


def _check_feature_gate(gate: str) -> str:
    name, separator, value = gate.partition("=")
    if not name or (separator and value not in ("true", "false")):
        raise ValueError(f"{gate!r} must be 'name', 'name=true' or 'name=false'")
    return gate


FeatureGate = Annotated[str, AfterValidator(_check_feature_gate)]


class _ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class PluginSpec(_ConfigModel):
    """One plugin instance; ``name`` defaults to ``type``. ``parameters`` are validated by the plugin's factory."""

    type: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)

    @property
    def effective_name(self) -> str:
        return self.name or self.type


class PluginRef(_ConfigModel):
    """A profile's use of a plugin; ``weight`` applies to scorers only (defaults to 1)."""

    plugin_ref: str = Field(min_length=1)
    weight: float | None = Field(default=None, gt=0)


class SchedulingProfileSpec(_ConfigModel):
    name: str = Field(min_length=1)
    plugins: list[PluginRef] = Field(default_factory=list)


class SaturationDetectorConfig(_ConfigModel):
    """A candidate has capacity when its metrics are fresh, its queue and its KV usage are under the
    thresholds; the candidate set is saturated when none has capacity (EPP ``SD_*`` defaults)."""

    queue_depth_threshold: int = Field(default=5, gt=0)
    kv_cache_util_threshold: float = Field(default=0.8, gt=0.0, lt=1.0)
    metrics_staleness_threshold: DurationSeconds = Field(default=0.2, gt=0.0)


class PluginReference(_ConfigModel):
    """v0.10's ``{pluginRef: name}`` (saturation detector, data sources, extractors, parsers)."""

    plugin_ref: str = Field(min_length=1)


class PriorityBandConfig(_ConfigModel):
    """One v0.10 priority band: requests whose objective priority equals ``priority`` (higher first)."""

    priority: int | None = None  # required in priorityBands, absent in the default-band templates
    max_bytes: ByteQuantity | None = Field(default=None, ge=0)
    max_requests: int | None = Field(default=None, ge=0)
    fairness_policy_ref: str | None = Field(default=None, min_length=1)
    ordering_policy_ref: str | None = Field(default=None, min_length=1)


_V010_FLOW_ALIASES = {
    "default_request_ttl": "defaultRequestTTL",
    "no_endpoint_request_ttl": "noEndpointRequestTTL",
}


class FlowControlConfig(_ConfigModel):
    """The picker-side queue: strict priority between levels, round-robin between fairness ids, FCFS per flow.

    Two spellings: this project's (``enabled``, ``maxQueuedRequests``, ``maxQueuedBytes``, ``requestTtl``)
    and llm-d-router v0.10's (``maxRequests``, ``maxBytes``, ``defaultRequestTTL``, ``priorityBands``…,
    switched on by the ``flowControl`` feature gate). A quantity may be given in one spelling only.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=lambda name: _V010_FLOW_ALIASES.get(name) or to_camel(name),
        populate_by_name=True,
        frozen=True,
    )

    enabled: bool = False
    max_queued_requests: int = Field(default=1000, ge=1, description="429 once this many wait")
    max_queued_bytes: int = Field(default=1_000_000_000, ge=1, description="429 once queued bodies exceed it")
    request_ttl: DurationSeconds = Field(
        default=30.0, ge=0.0, description="503 after waiting this long; 0 = none"
    )
    dispatch_interval: DurationSeconds = Field(
        default=0.005, gt=0.0, description="how often waiting requests re-check capacity between events"
    )
    max_in_flight_per_endpoint: int | None = Field(
        default=None,
        ge=1,
        description="an endpoint with this many requests in flight (the pool's, when deciders share) has no capacity",
    )
    # llm-d-router v0.10 keys (apix/config/v1alpha1 FlowControlConfig).
    max_requests: int | None = Field(
        default=None, ge=0, description="v0.10: global queued requests, 0 = bands'"
    )
    max_bytes: ByteQuantity | None = Field(
        default=None, ge=0, description="v0.10: global queued bytes, 0 = bands'"
    )
    default_request_ttl: DurationSeconds | None = Field(default=None, ge=0.0, description="v0.10: queue TTL")
    no_endpoint_request_ttl: DurationSeconds | None = Field(default=None, ge=0.0)
    default_priority_band: PriorityBandConfig | None = None
    default_negative_priority_band: PriorityBandConfig | None = None
    priority_bands: list[PriorityBandConfig] = Field(default_factory=list)
    usage_limit_policy_plugin_ref: str | None = Field(default=None, min_length=1)
    saturation_detector: PluginReference | None = None
    enable_eviction: bool = False

    @model_validator(mode="after")
    def _one_spelling_per_quantity(self) -> FlowControlConfig:
        pairs = (
            ("max_requests", "max_queued_requests", "maxRequests", "maxQueuedRequests"),
            ("max_bytes", "max_queued_bytes", "maxBytes", "maxQueuedBytes"),
            ("default_request_ttl", "request_ttl", "defaultRequestTTL", "requestTtl"),
        )
        for v010, ours, v010_key, our_key in pairs:
            if v010 in self.model_fields_set and ours in self.model_fields_set:
                raise ValueError(f"{v010_key} and {our_key} set the same limit; keep one of them")
        seen: set[int] = set()
        for index, band in enumerate(self.priority_bands):
            if band.priority is None:
                raise ValueError(f"priorityBands[{index}].priority is required")
            if band.priority in seen:
                raise ValueError(f"priorityBands[{index}].priority {band.priority} is listed twice")
            seen.add(band.priority)
        return self

    def resolved(self, llm_d_defaults: bool = False) -> FlowControlConfig:
        """The limits the flow controller enforces. With any v0.10 key (or ``llm_d_defaults``, for a
        ``llm-d.ai/v1alpha1`` file) v0.10's are mapped onto this project's: requests = ``maxRequests``, else
        the sum of the bands' (each 5000 by default; one default band when none is listed); bytes likewise
        (1G per band); TTL = ``defaultRequestTTL``, else 60 s. A project key set explicitly stays."""
        if not (llm_d_defaults or self.v010_keys_set()):
            return self
        bands = self.priority_bands or [PriorityBandConfig()]
        updates: dict[str, object] = {}
        if "max_queued_requests" not in self.model_fields_set:
            updates["max_queued_requests"] = self.max_requests or sum(
                band.max_requests or BAND_DEFAULT_MAX_REQUESTS for band in bands
            )
        if "max_queued_bytes" not in self.model_fields_set:
            updates["max_queued_bytes"] = self.max_bytes or sum(
                band.max_bytes or BAND_DEFAULT_MAX_BYTES for band in bands
            )
        if "request_ttl" not in self.model_fields_set:
            updates["request_ttl"] = (
                self.default_request_ttl if self.default_request_ttl is not None else DEFAULT_REQUEST_TTL_S
            )
        return self.model_copy(update=updates)

    def v010_keys_set(self) -> bool:
        """Whether any llm-d-router v0.10 key was written (then v0.10's defaults apply)."""
        return bool(self.model_fields_set & _V010_FLOW_FIELDS)


_V010_FLOW_FIELDS = frozenset(
    {
        "max_requests",
        "max_bytes",
        "default_request_ttl",
        "no_endpoint_request_ttl",
        "default_priority_band",
        "default_negative_priority_band",
        "priority_bands",
        "usage_limit_policy_plugin_ref",
        "saturation_detector",
        "enable_eviction",
    }
)


class DataLayerSource(_ConfigModel):
    plugin_ref: str = Field(min_length=1)
    extractors: list[PluginReference] = Field(default_factory=list)


class DataLayerConfig(_ConfigModel):
    """v0.10's data layer: where endpoint metrics come from. The picker scrapes vLLM's metrics itself."""

    inject_defaults: bool | None = None
    sources: list[DataLayerSource] = Field(default_factory=list)
    discovery: dict[str, Any] | None = None
    peer_discovery: dict[str, Any] | None = None
    cross_replica_syncer_plugin_ref: str | None = Field(default=None, min_length=1)
    cross_replica_sync_interval: DurationSeconds | None = None


class RequestHandlerConfig(_ConfigModel):
    """v0.10's request parsers (``openai-parser`` by default); the picker parses the OpenAI API itself."""

    parsers: list[PluginReference] = Field(default_factory=list)


class SheddableHeadroomConfig(_ConfigModel):
    """Project extension, not in the EPP (off unless a key is set): capacity held back from sheddable
    (priority < 0) requests, so a priority >= 0 request finds a free sequence slot instead of waiting for a
    sheddable one to finish (model servers do not preempt). An endpoint qualifies for a sheddable request
    only if it passes every rule that is set; a sheddable request left with no qualifying candidate gets 429.
    """

    max_in_flight_per_endpoint: int | None = Field(
        default=None,
        ge=1,
        description="an endpoint with this many sheddable requests in flight from this picker takes no more",
    )
    queue_depth_threshold: int | None = Field(
        default=None,
        ge=0,
        description="an endpoint with more requests waiting (scraped, corrected by in-flight) takes no "
        "sheddable request; 0 = never where anything waits",
    )

    @property
    def enabled(self) -> bool:
        return self.max_in_flight_per_endpoint is not None or self.queue_depth_threshold is not None


class EndpointPickerConfig(_ConfigModel):
    """The whole file, either generation. Unknown keys are errors (the EPP decodes strictly)."""

    api_version: Literal["inference.networking.x-k8s.io/v1alpha1", "llm-d.ai/v1alpha1"] = API_VERSION
    kind: Literal["EndpointPickerConfig"] = KIND
    feature_gates: list[FeatureGate] = Field(default_factory=list)
    plugins: list[PluginSpec] = Field(min_length=1)
    scheduling_profiles: list[SchedulingProfileSpec] = Field(default_factory=list)
    saturation_detector: SaturationDetectorConfig = Field(default_factory=SaturationDetectorConfig)
    flow_control: FlowControlConfig = Field(default_factory=FlowControlConfig)
    data_layer: DataLayerConfig | None = None
    request_handler: RequestHandlerConfig | None = None
    parser: PluginReference | None = None  # v0.10: deprecated, moved to requestHandler.parsers
    sheddable_headroom: SheddableHeadroomConfig = Field(default_factory=SheddableHeadroomConfig)

    def feature_gate(self, name: str) -> bool:
        """A gate's value: the last entry naming it wins, else v0.10's default (unknown gates: off)."""
        enabled = FEATURE_GATE_DEFAULTS.get(name, False)
        for gate in self.feature_gates:
            gate_name, separator, value = gate.partition("=")
            if gate_name == name:
                enabled = not separator or value == "true"
        return enabled

    @property
    def flow_control_enabled(self) -> bool:
        """``flowControl.enabled`` (this project's spelling) or v0.10's ``flowControl`` feature gate."""
        return self.flow_control.enabled or self.feature_gate(FLOW_CONTROL_GATE)

    def effective_flow_control(self) -> FlowControlConfig:
        """The flow controller's limits, with llm-d-router v0.10's defaults for a ``llm-d.ai`` file."""
        return self.flow_control.resolved(llm_d_defaults=self.api_version == LLM_D_API_VERSION)

    def effective_saturation_detector(self) -> SaturationDetectorConfig:
        """The thresholds admission and flow control use: a ``utilization-detector`` plugin's parameters when
        ``flowControl.saturationDetector.pluginRef`` (v0.10) names one, else the top-level section."""
        reference = self.flow_control.saturation_detector
        if reference is None:
            return self.saturation_detector
        for spec in self.plugins:
            if spec.effective_name == reference.plugin_ref and spec.type == DEFAULT_SATURATION_DETECTOR:
                parameters = {key: value for key, value in spec.parameters.items() if key != "headroom"}
                return SaturationDetectorConfig.model_validate(parameters)
        return self.saturation_detector


def reference_issues(config: EndpointPickerConfig) -> list[ConfigIssue]:
    """Duplicate names and dangling ``pluginRef``s, each with its indexed path."""
    issues: list[ConfigIssue] = []
    seen_plugins: dict[str, int] = {}
    for index, plugin in enumerate(config.plugins):
        name = plugin.effective_name
        if name in seen_plugins:
            issues.append(
                ConfigIssue(
                    f"plugins[{index}].name",
                    f"duplicate plugin name {name!r} (also plugins[{seen_plugins[name]}]); give each instance "
                    "a distinct name",
                )
            )
        seen_plugins.setdefault(name, index)
    seen_profiles: dict[str, int] = {}
    for index, profile in enumerate(config.scheduling_profiles):
        if profile.name in seen_profiles:
            issues.append(
                ConfigIssue(f"schedulingProfiles[{index}].name", f"duplicate profile name {profile.name!r}")
            )
        seen_profiles.setdefault(profile.name, index)
        for ref_index, ref in enumerate(profile.plugins):
            if ref.plugin_ref not in seen_plugins:
                issues.append(
                    ConfigIssue(
                        f"schedulingProfiles[{index}].plugins[{ref_index}].pluginRef",
                        f"no plugin named {ref.plugin_ref!r}; defined plugins: {', '.join(sorted(seen_plugins))}",
                    )
                )
    return issues + v010_reference_issues(config)


def v010_reference_issues(config: EndpointPickerConfig) -> list[ConfigIssue]:
    """v0.10's references outside the profiles (saturation detector, data layer, parsers) must name plugins."""
    names = {plugin.effective_name for plugin in config.plugins}
    references: list[tuple[str, str]] = []
    detector = config.flow_control.saturation_detector
    if detector is not None and detector.plugin_ref != DEFAULT_SATURATION_DETECTOR:
        references.append(("flowControl.saturationDetector.pluginRef", detector.plugin_ref))
    if config.data_layer is not None:
        for index, source in enumerate(config.data_layer.sources):
            references.append((f"dataLayer.sources[{index}].pluginRef", source.plugin_ref))
            for extractor_index, extractor in enumerate(source.extractors):
                references.append(
                    (
                        f"dataLayer.sources[{index}].extractors[{extractor_index}].pluginRef",
                        extractor.plugin_ref,
                    )
                )
    if config.request_handler is not None:
        for index, parser in enumerate(config.request_handler.parsers):
            references.append((f"requestHandler.parsers[{index}].pluginRef", parser.plugin_ref))
    return [
        ConfigIssue(path, f"no plugin named {name!r}; defined plugins: {', '.join(sorted(names))}")
        for path, name in references
        if name not in names
    ]


def inert_keys(config: EndpointPickerConfig) -> list[ConfigIssue]:
    """llm-d-router v0.10 keys this picker accepts but does not act on, each with the reason (logged once
    at startup by the loader). Keys it does act on, and keys v0.10 itself rejects, are not listed."""
    inert: list[ConfigIssue] = []
    for index, gate in enumerate(config.feature_gates):
        name = gate.partition("=")[0]
        if name not in FEATURE_GATE_DEFAULTS:
            inert.append(ConfigIssue(f"featureGates[{index}]", f"unknown feature gate {name!r}; ignored"))
    if not config.feature_gate(HA_POPULATE_NON_LEADER_GATE):
        inert.append(
            ConfigIssue(
                "featureGates",
                f"{HA_POPULATE_NON_LEADER_GATE}=false has no effect: standby replicas always keep their "
                "endpoint list current here",
            )
        )
    flow = config.flow_control
    if flow.v010_keys_set() and not config.flow_control_enabled:
        inert.append(
            ConfigIssue(
                "flowControl",
                "has no effect while the flowControl feature gate is off (add it to featureGates)",
            )
        )
    if flow.no_endpoint_request_ttl is not None:
        inert.append(
            ConfigIssue(
                "flowControl.noEndpointRequestTTL", "not used: a request with no endpoint fails at once (503)"
            )
        )
    for key, value in (
        ("defaultPriorityBand", flow.default_priority_band),
        ("defaultNegativePriorityBand", flow.default_negative_priority_band),
    ):
        if value is not None:
            inert.append(
                ConfigIssue(f"flowControl.{key}", "not used: every priority level shares the global limits")
            )
    if flow.usage_limit_policy_plugin_ref is not None:
        inert.append(
            ConfigIssue(
                "flowControl.usageLimitPolicyPluginRef",
                "not used: dispatch waits until the saturation detector sees capacity (static threshold 1.0)",
            )
        )
    if flow.enable_eviction:
        inert.append(
            ConfigIssue("flowControl.enableEviction", "not supported: in-flight requests are never evicted")
        )
    for index, band in enumerate(flow.priority_bands):
        path = f"flowControl.priorityBands[{index}]"
        if band.max_requests is not None and flow.max_requests:
            inert.append(ConfigIssue(f"{path}.maxRequests", "not used: the global maxRequests is set"))
        if band.max_bytes is not None and flow.max_bytes:
            inert.append(ConfigIssue(f"{path}.maxBytes", "not used: the global maxBytes is set"))
        if band.fairness_policy_ref not in (None, DEFAULT_FAIRNESS_POLICY):
            inert.append(
                ConfigIssue(f"{path}.fairnessPolicyRef", "not used: flows of a band are served round-robin")
            )
        if band.ordering_policy_ref not in (None, DEFAULT_ORDERING_POLICY):
            inert.append(ConfigIssue(f"{path}.orderingPolicyRef", "not used: each flow is served FCFS"))
    if config.data_layer is not None:
        for key in sorted(config.data_layer.model_fields_set):
            inert.append(
                ConfigIssue(
                    f"dataLayer.{to_camel(key)}",
                    "not used: the picker discovers endpoints and scrapes vLLM's metrics itself "
                    "(--pool-name or --endpoints-file, --refresh-metrics-interval)",
                )
            )
    if config.request_handler is not None:
        inert.append(ConfigIssue("requestHandler", "not used: the picker parses the OpenAI API itself"))
    if config.parser is not None:
        inert.append(
            ConfigIssue("parser", "deprecated in v0.10 and not used: the picker parses the OpenAI API itself")
        )
    for index, spec in enumerate(config.plugins):
        if spec.type == DEFAULT_SATURATION_DETECTOR and spec.parameters.get("headroom", 0) != 0:
            inert.append(
                ConfigIssue(f"plugins[{index}].parameters.headroom", "not used: no headroom is applied")
            )
    return inert
