"""Rules for backend and health-check policies, InferencePools and objectives. Facts: CUSTOM_METRICS xor
IN_FLIGHT; maxUtilizationPercent is an integer percent; timeoutSec >= 2 x P99; health-check timeout <=
interval; multi-cluster pools carry ``networking.gke.io/export: "True"``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy import EnforcementLevel, Severity
from pydantic import Field, model_validator

from policies import resource_types as types
from policies.kubernetes import (
    PodTemplate,
    container_label,
    container_ports,
    containers,
    object_name,
    object_namespace,
    pod_templates,
    same_cluster,
    selector_labels,
    selects,
)
from policies.props import Props, as_int
from policies.rule import Finding, NoConfig, Resource, RuleConfig, Stack, known
from policies.rule_declaration import resource_rule, stack_rule
from policies.topology import is_multi_cluster

EXPORT_ANNOTATION = "networking.gke.io/export"
EXPORT_VALUE = "True"
CUSTOM_METRICS = "CUSTOM_METRICS"
IN_FLIGHT = "IN_FLIGHT"
GKE_DEFAULT_BACKEND_TIMEOUT_SEC = 30
GKE_DEFAULT_HEALTH_CHECK_SEC = 5


# --- backend-policy-single-balancing-mode ------------------------------------------------------------


@resource_rule(
    "backend-policy-single-balancing-mode",
    applies_to=types.is_backend_policy,
    severity=Severity.HIGH,
)
def single_balancing_mode(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires exactly one balancing mode (CUSTOM_METRICS or IN_FLIGHT) per GCPBackendPolicy.

    GKE documents the custom-metrics and in-flight balancing modes as mutually exclusive; mixing their fields
    leaves the load balancer's behaviour undefined.
    """
    default = resource.props.mapping("spec", "default")
    if default is None:
        return
    mode = default.text("balancingMode")
    has_custom_metrics = bool(default.items("customMetrics"))
    has_in_flight = default.get("maxInFlightRequestsPerEndpoint") is not None
    if mode == CUSTOM_METRICS:
        if has_in_flight:
            yield ("balancingMode is CUSTOM_METRICS but maxInFlightRequestsPerEndpoint (an IN_FLIGHT setting) is "
                   "also set; the modes are mutually exclusive: remove maxInFlightRequestsPerEndpoint.")
        if not has_custom_metrics:
            yield "balancingMode CUSTOM_METRICS needs customMetrics (e.g. gke.named_metrics.kv-cache)."
    elif mode == IN_FLIGHT:
        if has_custom_metrics:
            yield ("balancingMode is IN_FLIGHT but customMetrics (a CUSTOM_METRICS setting) are also set; the "
                   "modes are mutually exclusive: remove customMetrics.")
        if not has_in_flight:
            yield "balancingMode IN_FLIGHT needs an explicit maxInFlightRequestsPerEndpoint capacity."
    elif mode is not None:
        yield f"balancingMode '{mode}' is not one of CUSTOM_METRICS, IN_FLIGHT."
    elif has_custom_metrics and has_in_flight:
        yield ("customMetrics and maxInFlightRequestsPerEndpoint configure both balancing modes; choose one "
               "and set balancingMode to it.")
    elif has_custom_metrics or has_in_flight:
        implied = CUSTOM_METRICS if has_custom_metrics else IN_FLIGHT
        yield f"balancing fields are set without balancingMode; set balancingMode: {implied}."


# --- backend-timeout-covers-p99 ----------------------------------------------------------------------


class BackendTimeoutConfig(RuleConfig):
    p99_latency_sec: float = Field(
        30.0, gt=0, description="Estimated P99 request latency, seconds (`infgw plan` passes the stack's "
        "services.backendPolicy.p99LatencySec when set).",
    )
    multiplier: float = Field(2.0, ge=1, description="timeoutSec must be at least multiplier x p99LatencySec.")
    max_timeout_sec: int = Field(3600, ge=1, description="Largest timeoutSec allowed (long-context ceiling).")

    @model_validator(mode="after")
    def _reachable(self) -> BackendTimeoutConfig:
        if self.p99_latency_sec * self.multiplier > self.max_timeout_sec:
            raise ValueError(f"multiplier x p99LatencySec ({self.p99_latency_sec * self.multiplier:g}) exceeds "
                             f"maxTimeoutSec ({self.max_timeout_sec}); no timeout could comply")
        return self


@resource_rule("backend-timeout-covers-p99", applies_to=types.is_backend_policy)
def backend_timeout_covers_p99(resource: Resource, config: BackendTimeoutConfig) -> Iterator[str]:
    """Requires the backend timeout to be at least twice the configured P99 request latency.

    GKE recommends timeoutSec >= 2 x the estimated P99 latency (up to 3600 s for long contexts); the 30 s
    default cuts off long completions mid-stream.
    """
    default = resource.props.mapping("spec", "default")
    if default is None:
        return
    timeout = default.number("timeoutSec")
    floor = config.p99_latency_sec * config.multiplier
    effective = timeout if timeout is not None else GKE_DEFAULT_BACKEND_TIMEOUT_SEC
    if effective < floor:
        source = f"timeoutSec {effective:g}" if timeout is not None else (
            f"timeoutSec is unset (GKE default {GKE_DEFAULT_BACKEND_TIMEOUT_SEC})")
        yield (f"{source} is below {config.multiplier:g} x the P99 latency of {config.p99_latency_sec:g} s; "
               f"long generations get cut off: set timeoutSec to at least {floor:g}.")
    elif effective > config.max_timeout_sec:
        yield f"timeoutSec {effective:g} exceeds {config.max_timeout_sec}; lower it."


# --- custom-metric-utilization-range -----------------------------------------------------------------


@resource_rule("custom-metric-utilization-range", applies_to=types.is_backend_policy)
def custom_metric_utilization_range(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires custom-metric maxUtilizationPercent to be an integer within 1..100.

    The GKE field is an integer percent; a 0..1 fraction (the Compute API's maxUtilization) or an out-of-range
    value either fails admission or pins every backend at saturation.
    """
    for index, metric in enumerate(resource.props.items("spec", "default", "customMetrics")):
        label = metric.text("name") or f"customMetrics[{index}]"
        if metric.get("maxUtilization") is not None:
            yield (f"{label}: maxUtilization is the Compute Engine field (0..1); GCPBackendPolicy takes "
                   f"maxUtilizationPercent, an integer 1..100 (start at 60).")
        value = metric.number("maxUtilizationPercent")
        if value is None:
            if metric.get("maxUtilizationPercent") is not None:
                yield f"{label}: maxUtilizationPercent must be an integer 1..100."
            continue
        if as_int(value) is None or not 1 <= value <= 100:
            yield f"{label}: maxUtilizationPercent {value:g} is outside 1..100; use an integer percent such as 60."


# --- health-check-timeout-within-interval ------------------------------------------------------------


@resource_rule("health-check-timeout-within-interval", applies_to=types.is_health_check_policy)
def health_check_timeout_within_interval(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires a HealthCheckPolicy's timeout not to exceed its check interval.

    Compute Engine health checks reject timeoutSec greater than checkIntervalSec (default 5 s), which fails
    the policy at apply time.
    """
    default = resource.props.mapping("spec", "default")
    if default is None:
        return
    timeout = default.number("timeoutSec")
    interval = default.number("checkIntervalSec")
    if timeout is None:
        return
    effective_interval = interval if interval is not None else GKE_DEFAULT_HEALTH_CHECK_SEC
    if timeout > effective_interval:
        yield (f"timeoutSec {timeout:g} exceeds checkIntervalSec {effective_interval:g}"
               f"{'' if interval is not None else ' (default)'}; a probe must finish before the next starts: "
               f"lower timeoutSec or raise checkIntervalSec.")


# --- pools: indexes shared by the stack rules --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolRef:
    resource: Resource
    namespace: str
    name: str | None


def pools(stack: Stack) -> list[PoolRef]:
    result = []
    for pool in stack.of(types.is_inference_pool):
        name = known(lambda: object_name(pool) or "")
        result.append(PoolRef(pool, known(lambda: object_namespace(pool)) or "", name or None))
    return result


def _chart_pool_names(stack: Stack) -> set[str]:
    """Pools rendered by the inferencepool Helm chart (release name = pool name) are invisible otherwise."""
    names = set()
    for chart in stack.of(types.HELM_CHART_V4):
        chart_ref = known(lambda: chart.props.text("chart")) or ""
        if "inferencepool" in chart_ref:
            names.add(known(lambda: chart.props.text("name")) or chart.name)
    return names


# --- inference-pool-export-annotation ----------------------------------------------------------------


def _exported_by_patch(stack: Stack, pool: PoolRef) -> bool:
    for patch in stack.of(types.is_inference_pool_patch):
        facts = known(lambda: (object_name(patch), object_namespace(patch),
                                       patch.props.text("metadata", "annotations", EXPORT_ANNOTATION)))
        if facts and facts[0] == pool.name and facts[1] == pool.namespace and facts[2] == EXPORT_VALUE \
                and same_cluster(patch, pool.resource):
            return True
    return False


@stack_rule("inference-pool-export-annotation", severity=Severity.HIGH)
def export_annotation(stack: Stack, config: NoConfig) -> Iterator[Finding]:
    """Requires InferencePools in multi-cluster stacks to carry networking.gke.io/export: "True".

    Only exported pools become GCPInferencePoolImports in the config cluster; an unexported pool silently
    receives no multi-cluster traffic.
    """
    if not is_multi_cluster(stack):
        return
    for pool in pools(stack):
        value = known(lambda: pool.resource.props.text("metadata", "annotations", EXPORT_ANNOTATION) or "")
        if value is None or value == EXPORT_VALUE or _exported_by_patch(stack, pool):
            continue
        found = f" (found '{value}')" if value else ""
        yield Finding(f"InferencePool {pool.name or pool.resource.name} lacks the annotation "
                      f"{EXPORT_ANNOTATION}: \"{EXPORT_VALUE}\"{found}, so the config cluster never imports it "
                      f"and multi-cluster routing has no backends; add the annotation.", pool.resource.urn)


# --- inference-pool-matches-model-server -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SelectedTemplates:
    templates: list[tuple[Resource, PodTemplate]]  # (workload, pod template) the pool's selector matches
    undecided: bool  # some workload's namespace or templates are unknown during preview


def _selected_templates(workloads: list[Resource], pool: PoolRef, selector: dict[str, str]) -> SelectedTemplates:
    """The pod templates of workloads in the pool's cluster and namespace that its selector matches."""
    found: list[tuple[Resource, PodTemplate]] = []
    undecided = False
    for workload in workloads:
        if not same_cluster(workload, pool.resource):
            continue
        namespace = known(lambda: object_namespace(workload))
        templates = known(lambda: pod_templates(workload))
        if namespace is None or templates is None:
            undecided = True
            continue
        if namespace != pool.namespace:
            continue
        found.extend((workload, template) for template in templates if selects(selector, template.labels))
    return SelectedTemplates(found, undecided)


@stack_rule("inference-pool-matches-model-server", severity=Severity.HIGH)
def pool_matches_model_server(stack: Stack, config: NoConfig) -> Iterator[Finding]:
    """Requires each InferencePool's selector and target port to match a model-server workload.

    A selector that matches no pods, or a port the server does not listen on, gives the endpoint picker zero
    usable endpoints and every request fails with 503.
    """
    workloads = stack.of(types.is_workload)
    for pool in pools(stack):
        facts = known(lambda: (
            selector_labels(pool.resource.props.mapping("spec", "selector")),
            [as_int(t.number("number")) for t in pool.resource.props.items("spec", "targetPorts")]
            or [as_int(pool.resource.props.number("spec", "targetPortNumber"))],
        ))
        if facts is None:
            continue
        selector, target_ports = facts
        label = pool.name or pool.resource.name
        if not selector:
            yield Finding(f"InferencePool {label} has an empty selector; set spec.selector.matchLabels to the "
                          f"model server's pod labels.", pool.resource.urn)
            continue
        selected = _selected_templates(workloads, pool, selector)
        matched = bool(selected.templates)
        undecided = selected.undecided
        matched_ports: set[int] = set()
        for _, template in selected.templates:
            ports = known(lambda: set().union(*(container_ports(c) for c in
                                                  containers(template.spec, include_init=False))))
            if ports is None:
                undecided = True
            else:
                matched_ports |= ports
        if not matched:
            if not undecided:
                yield Finding(f"InferencePool {label} selects {selector} in namespace {pool.namespace}, but no "
                              f"model-server workload there has those pod labels; fix the selector or the "
                              f"Deployment's template labels.", pool.resource.urn)
            continue
        missing = [p for p in target_ports if p is not None and p not in matched_ports]
        if missing and not undecided:
            yield Finding(f"InferencePool {label} targets port(s) {missing}, but the selected model server "
                          f"listens on {sorted(matched_ports) or 'no declared port'}; align targetPorts with "
                          f"the container's port.", pool.resource.urn)


# --- objective-references-existing-pool --------------------------------------------------------------


@stack_rule("objective-references-existing-pool")
def objective_references_pool(stack: Stack, config: NoConfig) -> Iterator[Finding]:
    """Requires every InferenceObjective to reference an InferencePool declared in the same cluster and
    namespace.

    An objective for a missing pool is accepted by the API server but never applied: its priority silently has
    no effect on admission or shedding.
    """
    known_pools = pools(stack)
    if any(p.name is None for p in known_pools):
        return  # an auto-named pool could be any name; nothing can be proven missing
    chart_pools = _chart_pool_names(stack)
    for objective in stack.of(types.is_inference_objective):
        facts = known(lambda: (objective.props.text("spec", "poolRef", "name"),
                                           objective.props.text("spec", "poolRef", "kind") or "InferencePool",
                                           object_namespace(objective)))
        if facts is None:
            continue
        pool_name, pool_kind, namespace = facts
        label = known(lambda: object_name(objective)) or objective.name
        if not pool_name:
            yield Finding(f"InferenceObjective {label} has no spec.poolRef.name; name the InferencePool it "
                          f"applies to.", objective.urn)
            continue
        if pool_kind != "InferencePool" or pool_name in chart_pools:
            continue
        if any(p.name == pool_name and p.namespace == namespace and same_cluster(p.resource, objective)
               for p in known_pools):
            continue
        candidates = sorted({p.name for p in known_pools if p.name and same_cluster(p.resource, objective)})
        yield Finding(f"InferenceObjective {label} references InferencePool '{pool_name}' in namespace "
                      f"{namespace}, which this stack does not declare in that cluster (pools: "
                      f"{', '.join(candidates) or 'none'}); fix spec.poolRef.name.", objective.urn)


# --- objective-priority-needs-engine-priority --------------------------------------------------------

SCHEDULING_POLICY_FLAG = "--scheduling-policy"


def _command_tokens(container: Props) -> list[str]:
    """command + args as words: a ``sh -c`` line (the stack's vLLM container) is split like a shell would."""
    tokens: list[str] = []
    for part in [*container.strings("command"), *container.strings("args")]:
        try:
            tokens.extend(shlex.split(part))
        except ValueError:  # unbalanced quotes: fall back to whitespace
            tokens.extend(part.split())
    return tokens


def runs_priority_scheduling(container: Props) -> bool:
    """vLLM's ``--scheduling-policy priority`` (or ``=priority``) is on the container's command line."""
    tokens = _command_tokens(container)
    for index, token in enumerate(tokens):
        if token == f"{SCHEDULING_POLICY_FLAG}=priority":
            return True
        if token == SCHEDULING_POLICY_FLAG and tokens[index + 1 : index + 2] == ["priority"]:
            return True
    return False


@stack_rule(
    "objective-priority-needs-engine-priority",
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.LOW,
)
def objective_needs_engine_priority(stack: Stack, config: NoConfig) -> Iterator[Finding]:
    """Recommends vLLM's priority scheduling on model servers whose pool has InferenceObjectives with a
    non-default priority.

    An InferenceObjective's priority decides admission, queueing and shedding in the picker; a vLLM server on
    its default fcfs policy then serves admitted requests in arrival order, so a sheddable request already
    inside a replica delays critical ones. With --scheduling-policy priority the picker passes the priority on
    in the request body.
    """
    workloads = stack.of(types.is_workload)
    known_pools = pools(stack)
    for objective in stack.of(types.is_inference_objective):
        facts = known(lambda: (objective.props.number("spec", "priority"),
                                objective.props.text("spec", "poolRef", "name"), object_namespace(objective)))
        if facts is None or not facts[0] or not facts[1]:
            continue  # no priority, or 0 (the default): the engine order cannot differ
        priority, pool_name, namespace = facts
        label = known(lambda: object_name(objective)) or objective.name
        for pool in known_pools:
            if pool.name != pool_name or pool.namespace != namespace or not same_cluster(pool.resource, objective):
                continue
            pool_facts = known(lambda: (
                selector_labels(pool.resource.props.mapping("spec", "selector")),
                {as_int(t.number("number")) for t in pool.resource.props.items("spec", "targetPorts")}
                | {as_int(pool.resource.props.number("spec", "targetPortNumber"))},
            ))
            if pool_facts is None or not pool_facts[0]:
                continue
            selector, target_ports = pool_facts
            for workload, template in _selected_templates(workloads, pool, selector).templates:
                workload_label = known(lambda: object_name(workload)) or workload.name
                servers = known(lambda: [
                    c for c in containers(template.spec, include_init=False) if container_ports(c) & target_ports])
                for server in servers or []:
                    if known(lambda: runs_priority_scheduling(server)) is False:
                        yield Finding(
                            f"InferenceObjective {label} has priority {priority:g}, but the model server of "
                            f"InferencePool {pool_name} ({workload_label}, container {container_label(server)}) "
                            f"runs without {SCHEDULING_POLICY_FLAG} priority: the priority orders admission "
                            f"and shedding in the picker, but inside the replica every admitted request waits "
                            f"and runs first-come first-served. Add '{SCHEDULING_POLICY_FLAG} priority' to the "
                            f"vLLM args and '--model-server-scheduling-policy priority' to the picker (the "
                            f"stack's services.pools[].schedulingPolicy: priority sets both).", objective.urn)


RULES = (
    single_balancing_mode,
    backend_timeout_covers_p99,
    custom_metric_utilization_range,
    health_check_timeout_within_interval,
    export_annotation,
    pool_matches_model_server,
    objective_references_pool,
    objective_needs_engine_priority,
)
