"""Workload rules: pinned images, GPU quantities, the HF token, model-server shutdown and probes, a hardened
picker. Model servers are what an InferencePool selects (GPU workloads when there is no pool); the picker
is the workload behind a pool's endpointPickerRef Service, or matched by image name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity
from pydantic import Field

from policies import resource_types as types
from policies.inference import pools
from policies.kubernetes import (
    PodTemplate,
    container_label,
    container_ports,
    containers,
    gpu_quantity,
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

GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_TERMINATION_GRACE_SEC = 30
_DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")
_HF_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")


@dataclass(frozen=True, slots=True)
class WorkloadPods:
    """A workload and the pod templates (with the containers) a rule looks at."""

    workload: Resource
    templates: list[PodTemplate]
    target_ports: frozenset[int] = frozenset()


def _requests_gpus(template: PodTemplate) -> bool:
    return any((gpu_quantity(c, "limits") or gpu_quantity(c, "requests") or 0) > 0
               for c in containers(template.spec, include_init=False))


def model_servers(stack: Stack) -> list[WorkloadPods]:
    """Workload templates selected by an InferencePool; GPU-requesting ones when the stack has no pools."""
    pool_refs = pools(stack)
    result: list[WorkloadPods] = []
    for workload in stack.of(types.is_workload):
        templates = known(lambda: pod_templates(workload))
        namespace = known(lambda: object_namespace(workload))
        if templates is None or namespace is None:
            continue
        selected: list[PodTemplate] = []
        ports: set[int] = set()
        for pool in pool_refs:
            if pool.namespace != namespace or not same_cluster(pool.resource, workload):
                continue
            facts = known(lambda: (selector_labels(pool.resource.props.mapping("spec", "selector")),
                                          [as_int(t.number("number"))
                                           for t in pool.resource.props.items("spec", "targetPorts")]))
            if facts is None:
                continue
            selector, target_ports = facts
            for template in templates:
                if selects(selector, template.labels):
                    if template not in selected:
                        selected.append(template)
                    ports.update(p for p in target_ports if p is not None)
        if not pool_refs:
            selected = [t for t in templates if known(lambda: _requests_gpus(t))]
        if selected:
            result.append(WorkloadPods(workload, selected, frozenset(ports)))
    return result


def serving_containers(pods: WorkloadPods, template: PodTemplate) -> list[Props]:
    """The containers that serve the pool's port (all app containers when none declares it)."""
    app = containers(template.spec, include_init=False)
    serving = [c for c in app if pods.target_ports & container_ports(c)]
    if serving:
        return serving
    gpu = [c for c in app if (gpu_quantity(c, "limits") or 0) > 0]
    return gpu or app


# --- images-pinned -----------------------------------------------------------------------------------


class ImagePinningConfig(RuleConfig):
    require_digest: bool = Field(False, description="Require @sha256 digests, not just explicit non-latest tags.")
    mutable_tags: list[str] = Field(
        default_factory=lambda: ["latest", "main", "master", "nightly", "dev"],
        description="Tags treated as unpinned because they move.",
    )


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/repo/name:tag@sha256:...`` -> (repository, tag, digest)."""
    reference, _, digest = image.partition("@")
    last_slash = reference.rfind("/")
    name_part = reference[last_slash + 1:]
    if ":" in name_part:
        repository = reference[: last_slash + 1] + name_part.split(":", 1)[0]
        tag = name_part.split(":", 1)[1]
    else:
        repository, tag = reference, None
    return repository, tag, digest or None


@resource_rule("images-pinned", applies_to=types.is_workload)
def images_pinned(resource: Resource, config: ImagePinningConfig) -> Iterator[str]:
    """Requires every container image to be pinned to a version tag or digest.

    Moving tags make rollouts unreproducible: a node restart can pull a different vLLM or picker build than
    the one that was tested, mid-incident. The single-cluster guide's manifest uses vllm/vllm-openai:latest
    and lora-syncer:main; copying it verbatim is blocked here.
    """
    for template in pod_templates(resource):
        for container in containers(template.spec):
            image = container.text("image")
            label = container_label(container)
            if image is None:
                continue
            _, tag, digest = split_image(image)
            if digest is not None:
                if not _DIGEST_RE.search(image):
                    yield f"{label}: image {image} has a malformed digest; use @sha256:<64 hex>."
                continue
            if config.require_digest:
                yield f"{label}: image {image} is not pinned by digest; append @sha256:<digest>."
            elif tag is None:
                yield f"{label}: image {image} has no tag, so it resolves to :latest; pin a version tag or digest."
            elif tag in config.mutable_tags:
                yield f"{label}: image {image} uses the moving tag '{tag}'; pin a version tag or digest."


# --- gpu-requests-equal-limits -----------------------------------------------------------------------


def _remediate_gpu_quantities(props: dict[str, Any], config: NoConfig) -> dict[str, Any] | None:
    fixed = copy.deepcopy(props)
    changed = False
    spec_paths = (("spec", "template", "spec"), ("spec", "jobTemplate", "spec", "template", "spec"), ("spec",))
    for path in spec_paths:
        node: Any = fixed
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for container in (node.get("containers") or []) + (node.get("initContainers") or []):
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            if GPU_RESOURCE in limits and GPU_RESOURCE in requests and requests[GPU_RESOURCE] != limits[GPU_RESOURCE]:
                requests[GPU_RESOURCE] = limits[GPU_RESOURCE]
                changed = True
            elif GPU_RESOURCE in requests and GPU_RESOURCE not in limits:
                limits[GPU_RESOURCE] = requests[GPU_RESOURCE]
                resources["limits"] = limits
                container["resources"] = resources
                changed = True
        break
    return fixed if changed else None


@resource_rule(
    "gpu-requests-equal-limits",
    applies_to=types.is_workload,
    remediate=_remediate_gpu_quantities,
    remediation_steps="Set resources.requests[nvidia.com/gpu] to the limit.",
)
def gpu_requests_equal_limits(resource: Resource, config: NoConfig) -> Iterator[str]:
    """Requires GPU requests to equal GPU limits in every container.

    Kubernetes only schedules extended resources from limits and rejects requests that differ from them; a
    mismatch fails the rollout.
    """
    for template in pod_templates(resource):
        for container in containers(template.spec):
            requested = gpu_quantity(container, "requests")
            limited = gpu_quantity(container, "limits")
            label = container_label(container)
            if requested is None and limited is None:
                continue
            if limited is None:
                yield (f"{label}: requests {requested:g} {GPU_RESOURCE} without a limit; extended resources must "
                       f"be set in limits (equal to requests).")
            elif requested is not None and requested != limited:
                yield (f"{label}: {GPU_RESOURCE} requests {requested:g} != limits {limited:g}; GPUs cannot be "
                       f"overcommitted, so set them equal.")


# --- hf-token-from-secret ----------------------------------------------------------------------------


class TokenConfig(RuleConfig):
    token_env_names: list[str] = Field(
        default_factory=lambda: ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN"],
        description="Environment variables that carry the Hugging Face token.",
    )


def _applies_to_token(resource_type: str) -> bool:
    return types.is_workload(resource_type) or resource_type == types.CONFIG_MAP


@resource_rule("hf-token-from-secret", applies_to=_applies_to_token, severity=Severity.CRITICAL)
def hf_token_from_secret(resource: Resource, config: TokenConfig) -> Iterator[str]:
    """Requires the Hugging Face token to reach pods only through a Secret reference.

    A literal token in a pod spec or ConfigMap is readable by anyone who can read the Deployment, and lands in
    Pulumi state in plaintext.
    """
    if resource.resource_type == types.CONFIG_MAP:
        for key, value in resource.props.string_map("data").items():
            if _HF_TOKEN_RE.search(value):
                yield f"ConfigMap key {key} holds a Hugging Face token in plaintext; move it to a Secret."
        return
    for template in pod_templates(resource):
        for container in containers(template.spec):
            label = container_label(container)
            for env in container.items("env"):
                name = env.text("name") or ""
                value = env.get("value")
                if name in config.token_env_names:
                    if value is not None:
                        yield (f"{label}: env {name} sets the Hugging Face token as a literal value; use "
                               f"valueFrom.secretKeyRef pointing at a Secret.")
                    elif env.get("valueFrom", "secretKeyRef") is None:
                        yield f"{label}: env {name} must come from valueFrom.secretKeyRef (a Secret)."
                elif isinstance(value, str) and _HF_TOKEN_RE.search(value):
                    yield f"{label}: env {name} contains a Hugging Face token in plaintext; use a Secret."
            for argument in container.strings("command") + container.strings("args"):
                if _HF_TOKEN_RE.search(argument):
                    yield f"{label}: a command-line argument contains a Hugging Face token; read it from a Secret."


# --- model-server-graceful-shutdown ------------------------------------------------------------------


class GracefulShutdownConfig(RuleConfig):
    drain_sec: int = Field(
        30, ge=0, description="Seconds in-flight requests need after the preStop hook (on top of it)."
    )


def prestop_seconds(container: Props) -> int | None:
    """Seconds a preStop hook waits: ``sleep.seconds`` or a ``sleep N`` exec command; None without one."""
    pre_stop = container.mapping("lifecycle", "preStop")
    if pre_stop is None:
        return None
    seconds = as_int(pre_stop.number("sleep", "seconds"))
    if seconds is not None:
        return seconds
    command = " ".join(pre_stop.strings("exec", "command"))
    match = re.search(r"sleep\s+(\d+)", command)
    return int(match.group(1)) if match else 0


@stack_rule("model-server-graceful-shutdown")
def model_server_graceful_shutdown(stack: Stack, config: GracefulShutdownConfig) -> Iterator[Finding]:
    """Requires model servers to drain: a preStop hook and a grace period covering preStop plus drain time.

    On rollout or scale-in the load balancer and picker need the preStop window to stop routing, and running
    generations need the rest of the grace period to finish instead of being cut off.
    """
    for pods in model_servers(stack):
        for template in pods.templates:
            facts = known(lambda: (
                as_int(template.spec.number("terminationGracePeriodSeconds")),
                [(container_label(c), prestop_seconds(c)) for c in serving_containers(pods, template)],
            ))
            if facts is None:
                continue
            grace, hooks = facts
            effective_grace = grace if grace is not None else DEFAULT_TERMINATION_GRACE_SEC
            for label, pre_stop in hooks:
                if pre_stop is None:
                    yield Finding(f"{label}: the model server has no preStop hook, so it stops before the "
                                  f"gateway stops routing to it; add lifecycle.preStop sleep (e.g. 30 s).",
                                  pods.workload.urn)
                    continue
                needed = pre_stop + config.drain_sec
                if effective_grace < needed:
                    yield Finding(f"{label}: terminationGracePeriodSeconds {effective_grace}"
                                  f"{'' if grace is not None else ' (default)'} < preStop {pre_stop} s + drain "
                                  f"{config.drain_sec} s; in-flight generations are killed: set it to at least "
                                  f"{needed}.", pods.workload.urn)


# --- model-server-probes -----------------------------------------------------------------------------


class ProbesConfig(RuleConfig):
    require_startup_probe: bool = Field(
        True, description="Also require a startupProbe (model loading can take many minutes)."
    )


@stack_rule("model-server-probes")
def model_server_probes(stack: Stack, config: ProbesConfig) -> Iterator[Finding]:
    """Requires readiness, liveness and startup probes on model-server containers.

    Readiness keeps loading replicas out of the pool, liveness restarts wedged engines, and a startup probe
    stops liveness from killing a server that is still loading weights.
    """
    required = ["readinessProbe", "livenessProbe"] + (["startupProbe"] if config.require_startup_probe else [])
    for pods in model_servers(stack):
        for template in pods.templates:
            facts = known(lambda: [
                (container_label(c), [p for p in required if c.get(p) is None])
                for c in serving_containers(pods, template)
            ])
            for label, missing in facts or []:
                if missing:
                    yield Finding(f"{label}: the model server has no {', '.join(missing)}; without them traffic "
                                  f"reaches replicas that are still loading weights or wedged. Add HTTP probes "
                                  f"on /health.", pods.workload.urn)


# --- picker-pod-hardened -----------------------------------------------------------------------------


class PickerHardeningConfig(RuleConfig):
    image_names: list[str] = Field(
        default_factory=lambda: ["picker", "epp"],
        description="Image name fragments that identify the endpoint picker besides endpointPickerRef.",
    )


def _picker_workloads(stack: Stack, config: PickerHardeningConfig) -> list[Resource]:
    selectors: list[tuple[Resource, str, dict[str, str]]] = []
    services = stack.of(types.SERVICE)
    for pool in pools(stack):
        picker_service = known(lambda: pool.resource.props.text("spec", "endpointPickerRef", "name"))
        for service in services:
            facts = known(lambda: (object_name(service), object_namespace(service),
                                             service.props.string_map("spec", "selector")))
            if facts and facts[0] == picker_service and facts[1] == pool.namespace \
                    and same_cluster(service, pool.resource):
                selectors.append((service, facts[1], facts[2]))
    result = []
    for workload in stack.of(types.is_workload):
        facts = known(lambda: (object_namespace(workload), pod_templates(workload)))
        if facts is None:
            continue
        namespace, templates = facts
        by_reference = any(ns == namespace and same_cluster(svc, workload) and selects(sel, t.labels)
                           for svc, ns, sel in selectors for t in templates)
        by_image = any(
            fragment in split_image(known(lambda: c.text("image")) or "")[0].rsplit("/", 1)[-1]
            for t in templates for c in containers(t.spec, include_init=False) for fragment in config.image_names)
        if by_reference or by_image:
            result.append(workload)
    return result


def _hardening_problems(template: PodTemplate) -> Iterator[str]:
    pod_context = template.spec.mapping("securityContext")
    pod_non_root = pod_context is not None and (
        pod_context.flag("runAsNonRoot") is True or (pod_context.number("runAsUser") or 0) > 0)
    for container in containers(template.spec):
        label = container_label(container)
        context = container.mapping("securityContext")

        def flag(key: str, context: Props | None = context) -> bool | None:
            return context.flag(key) if context is not None else None

        user = context.number("runAsUser") if context is not None else None
        non_root = flag("runAsNonRoot") is True or (user is not None and user > 0) or (
            pod_non_root and flag("runAsNonRoot") is not False and user != 0)
        if not non_root:
            yield f"{label}: set securityContext.runAsNonRoot: true (and a non-zero runAsUser)."
        if flag("readOnlyRootFilesystem") is not True:
            yield f"{label}: set securityContext.readOnlyRootFilesystem: true."
        if flag("allowPrivilegeEscalation") is not False:
            yield f"{label}: set securityContext.allowPrivilegeEscalation: false."
        if flag("privileged") is True:
            yield f"{label}: must not run privileged."


@stack_rule("picker-pod-hardened", severity=Severity.HIGH)
def picker_pod_hardened(stack: Stack, config: PickerHardeningConfig) -> Iterator[Finding]:
    """Requires the endpoint-picker pod to run as non-root with a read-only root filesystem and no privilege
    escalation.

    The picker sits on every request path and holds a token that reads pod metrics; a compromised picker must
    not be able to write its image or gain root.
    """
    for workload in _picker_workloads(stack, config):
        templates = known(lambda: pod_templates(workload)) or []
        for template in templates:
            problems = known(lambda: list(_hardening_problems(template)))
            for problem in problems or []:
                yield Finding(f"endpoint picker {workload.name}: {problem}", workload.urn)


RULES = (
    images_pinned,
    gpu_requests_equal_limits,
    hf_token_from_secret,
    model_server_graceful_shutdown,
    model_server_probes,
    picker_pod_hardened,
)
