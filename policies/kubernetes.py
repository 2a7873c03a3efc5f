"""Shared readers for Kubernetes objects in resource inputs: names, pod templates, containers, selectors.
Objects in different clusters come from different providers, so "same object" means same provider URN.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies import resource_types as types
from policies.props import Props
from policies.rule import Resource

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """A pod template inside a workload: its labels and its pod spec."""

    labels: dict[str, str]
    spec: Props


def object_name(resource: Resource) -> str | None:
    """``metadata.name``; None when absent (Pulumi then auto-names it, so the final name is not known)."""
    return resource.props.text("metadata", "name")


def object_namespace(resource: Resource) -> str:
    return resource.props.text("metadata", "namespace") or DEFAULT_NAMESPACE


def same_cluster(a: Resource, b: Resource) -> bool:
    """Whether two objects target the same cluster, judged by provider URN when both carry one."""
    return a.provider_urn is None or b.provider_urn is None or a.provider_urn == b.provider_urn


def pod_templates(resource: Resource) -> list[PodTemplate]:
    """Every pod template a workload creates (LeaderWorkerSet has a leader and a worker template)."""
    props = resource.props
    if resource.resource_type == types.POD:
        spec = props.mapping("spec")
        return [PodTemplate(props.string_map("metadata", "labels"), spec)] if spec is not None else []
    if resource.resource_type == types.CRON_JOB:
        template_paths: list[tuple[str, ...]] = [("spec", "jobTemplate", "spec", "template")]
    elif types.is_leader_worker_set(resource.resource_type):
        template_paths = [
            ("spec", "leaderWorkerTemplate", "leaderTemplate"),
            ("spec", "leaderWorkerTemplate", "workerTemplate"),
        ]
    elif resource.resource_type in types.POD_TEMPLATE_WORKLOADS:
        template_paths = [("spec", "template")]
    else:
        return []
    templates = []
    for path in template_paths:
        spec = props.mapping(*path, "spec")
        if spec is not None:
            templates.append(PodTemplate(props.string_map(*path, "metadata", "labels"), spec))
    return templates


def containers(pod_spec: Props, *, include_init: bool = True) -> list[Props]:
    """Containers (and init containers, which include native sidecars) of a pod spec."""
    result = pod_spec.items("containers")
    if include_init:
        result = result + pod_spec.items("initContainers")
    return result


def container_label(container: Props) -> str:
    return container.text("name") or "<unnamed container>"


def selector_labels(selector: Props | None) -> dict[str, str]:
    """``matchLabels`` of a label selector; InferencePool v1alpha2 used a flat label map instead."""
    if selector is None:
        return {}
    match_labels = selector.string_map("matchLabels")
    if match_labels or "matchLabels" in selector:
        return match_labels
    return selector.string_map()


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """An empty selector selects nothing here: a pool or service with no selector is a misconfiguration."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def container_ports(container: Props) -> set[int]:
    """Declared ``containerPort``s plus a ``--port N``/``--port=N`` argument (vLLM's own flag)."""
    ports: set[int] = set()
    for port in container.items("ports"):
        number = port.number("containerPort")
        if number is not None and number == int(number):
            ports.add(int(number))
    arguments = container.strings("command") + container.strings("args")
    for index, argument in enumerate(arguments):
        value: str | None = None
        if argument == "--port" and index + 1 < len(arguments):
            value = arguments[index + 1]
        elif argument.startswith("--port="):
            value = argument.split("=", 1)[1]
        if value is not None and value.isdigit():
            ports.add(int(value))
    return ports


def gpu_quantity(container: Props, section: str) -> float | None:
    """``resources.<section>["nvidia.com/gpu"]`` as a number (quantities may be strings like "2")."""
    return container.number("resources", section, "nvidia.com/gpu")
