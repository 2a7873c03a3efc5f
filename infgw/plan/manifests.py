"""Turn recorded pulumi-kubernetes registrations into kubectl-ready YAML, one file per object.

Input is what the offline plan's mocks saw (type token + camelCase inputs); output is
`<dir>/<cluster>/NN-<kind>-<name>.yaml` in apply order (`kubectl apply -f <dir>/<cluster>/`) and a README
naming what to create by hand first (secret values never reach disk) and the pinned remote CRDs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# What the offline plan records per resource: the policy pack reads the same records, so one Protocol.
from policies.offline import RecordedResource as Registration

# Apply order: what others reference comes first (namespaces, CRDs, identities, config, workloads,
# then the objects GKE controllers reconcile against them).
KIND_ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "InferencePool",
    "InferenceObjective",
    "AutoscalingMetric",
    "PodMonitoring",
    "Gateway",
    "HTTPRoute",
    "HealthCheckPolicy",
    "GCPBackendPolicy",
    "GCPRoutingExtension",
    "GCPTrafficExtension",
)
# How Pulumi marks a secret value on the wire ({sig: secret, value: ...}); mocks hand it over as is.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# Keys that lead their mapping (the way people write manifests); the rest follow alphabetically so
# output is byte-stable across runs.
_LEADING_KEYS = ("apiVersion", "kind", "metadata", "name", "namespace")
_REMOTE_FILE_TYPES = ("kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml:ConfigFile")
_NOT_OBJECTS = ("kubernetes:yaml", "kubernetes:helm", "kubernetes:kustomize")


@dataclass(frozen=True, slots=True)
class RecordedResource:
    """One resource registration as a Pulumi mock receives it."""

    type_token: str
    name: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class KubeObject:
    """A complete Kubernetes object (apiVersion, kind, metadata, body) ready for `kubectl apply`."""

    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        namespace = self.body["metadata"].get("namespace")
        return None if namespace is None else str(namespace)

    @property
    def carries_secret_data(self) -> bool:
        return self.kind == "Secret" and bool(self.body.get("data") or self.body.get("stringData"))


@dataclass(frozen=True, slots=True)
class ClusterManifests:
    """Everything one cluster receives: objects in apply order plus remote manifests (pinned URLs)."""

    cluster: str
    objects: tuple[KubeObject, ...]
    remote_files: tuple[str, ...]

    @property
    def applied(self) -> tuple[KubeObject, ...]:
        """The objects written to files: all but Secrets holding stack secrets (created by hand)."""
        return tuple(obj for obj in self.objects if not obj.carries_secret_data)


# The component whose registration carries `clusterName`; its children belong to that cluster.
CLUSTER_COMPONENT_TYPE = "infgw:index:InferenceService"


def manifests_by_cluster(registrations: Iterable[Registration]) -> list[ClusterManifests]:
    """Group a plan's Kubernetes registrations by the InferenceService (and so the cluster) owning them."""
    registered = list(registrations)
    cluster_of_component = {
        item.urn: str(item.inputs["clusterName"])
        for item in registered
        if item.type == CLUSTER_COMPONENT_TYPE and "clusterName" in item.inputs
    }
    parent_of = {item.urn: item.parent_urn for item in registered}

    def owning_cluster(item: Registration) -> str | None:
        urn: str | None = item.parent_urn
        while urn:
            if urn in cluster_of_component:
                return cluster_of_component[urn]
            urn = parent_of.get(urn)
        return None

    grouped: dict[str, list[RecordedResource]] = {cluster: [] for cluster in cluster_of_component.values()}
    for item in registered:
        cluster = owning_cluster(item)
        if cluster is not None:
            grouped[cluster].append(RecordedResource(item.type, item.name, item.inputs))
    return [cluster_manifests(cluster, resources) for cluster, resources in sorted(grouped.items())]


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (a ConfigMap's files) as literal blocks, readable as the files they become."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ManifestDumper.add_representer(str, _represent_text)


def _plain(value: Any) -> Any:
    """Mock inputs as plain YAML data: secrets unwrapped, ints back from floats (8000.0 -> 8000), keys ordered."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _plain(value.get("value"))
        keys = [key for key in value if not str(key).startswith("__")]
        leading = [key for key in _LEADING_KEYS if key in keys]
        ordered = leading + sorted(key for key in keys if key not in leading)
        return {key: _plain(value[key]) for key in ordered}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)  # the plan's markers are str subclasses, which YAML's safe dumper refuses
    return value


def _api_version_from_token(type_token: str) -> tuple[str, str]:
    """`kubernetes:apps/v1:Deployment` -> (`apps/v1`, `Deployment`); the core group drops its prefix."""
    _, group_version, kind = type_token.split(":", 2)
    group, _, version = group_version.rpartition("/")
    return (version if group in ("core", "") else f"{group}/{version}"), kind


def kube_object(resource: RecordedResource) -> KubeObject | None:
    """The Kubernetes object a registration creates, or None when it is not a single object."""
    token = resource.type_token
    if not token.startswith("kubernetes:") or token.startswith(_NOT_OBJECTS):
        return None
    if token.endswith("Patch") or token.endswith("List"):
        return None
    body = _plain(dict(resource.inputs))
    api_version, kind = _api_version_from_token(token)
    body.setdefault("apiVersion", api_version)
    body.setdefault("kind", kind)
    metadata = body.get("metadata") or {}
    if not metadata.get("name"):
        raise ValueError(
            f"{token} {resource.name!r} has no metadata.name; give every object an explicit name so "
            "manifests and Pulumi agree (autonamed objects get random suffixes)"
        )
    return KubeObject(body=_plain(body))


def cluster_manifests(cluster: str, resources: Iterable[RecordedResource]) -> ClusterManifests:
    """Collect one cluster's objects, sorted into apply order (then by namespace and name)."""
    objects: list[KubeObject] = []
    remote: list[str] = []
    for resource in resources:
        if resource.type_token in _REMOTE_FILE_TYPES:
            file = resource.inputs.get("file")
            if isinstance(file, str) and file.startswith(("https://", "http://")):
                remote.append(file)
            continue
        obj = kube_object(resource)
        if obj is not None:
            objects.append(obj)

    def rank(obj: KubeObject) -> tuple[int, str, str]:
        position = KIND_ORDER.index(obj.kind) if obj.kind in KIND_ORDER else len(KIND_ORDER)
        return position, obj.namespace or "", obj.name

    return ClusterManifests(
        cluster=cluster, objects=tuple(sorted(objects, key=rank)), remote_files=tuple(dict.fromkeys(remote))
    )


def file_name(index: int, obj: KubeObject, width: int = 2) -> str:
    return f"{index:0{width}d}-{obj.kind.lower()}-{obj.name}.yaml"


def _paths_holding(value: Any, marker: str, path: str = "") -> Iterable[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _paths_holding(item, marker, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_holding(item, marker, f"{path}[{index}]")
    elif value == marker:
        yield path


def write_cluster_manifests(
    out_dir: Path, manifests: ClusterManifests, unknown_marker: str | None = None
) -> list[Path]:
    """Write `<out_dir>/<cluster>/`: one YAML per object and a README.md. Returns the YAML paths.

    The cluster folder is replaced as a whole so a removed object never lingers as a stale file.
    """
    cluster_dir = out_dir / manifests.cluster
    if cluster_dir.exists():
        shutil.rmtree(cluster_dir)
    cluster_dir.mkdir(parents=True)

    applied = manifests.applied
    width = max(2, len(str(len(applied))))
    written: list[Path] = []
    for index, obj in enumerate(applied, start=1):
        path = cluster_dir / file_name(index, obj, width)
        path.write_text(
            yaml.dump(dict(obj.body), Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False)
        )
        written.append(path)

    unknown = [
        f"{file.name}: {path}"
        for file, obj in zip(written, applied, strict=True)
        for path in (_paths_holding(obj.body, unknown_marker) if unknown_marker else ())
    ]
    (cluster_dir / "README.md").write_text(_readme(manifests, applied, unknown))
    return written


def write_manifests(
    out_dir: Path, clusters: Sequence[ClusterManifests], unknown_marker: str | None = None
) -> dict[str, list[Path]]:
    """Write every cluster's folder; `unknown_marker` is the plan's stand-in for values known after apply."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        manifests.cluster: write_cluster_manifests(out_dir, manifests, unknown_marker)
        for manifests in clusters
    }


def _secret_refs(obj: KubeObject) -> Iterable[tuple[str, str]]:
    """(secret name, key) pairs a workload's containers read through `secretKeyRef`."""
    pod = obj.body.get("spec", {}).get("template", {}).get("spec", {})
    for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                yield ref["name"], ref["key"]


def _missing_secrets(applied: Sequence[KubeObject]) -> dict[tuple[str, str], set[str]]:
    """Secrets workloads read that no written file creates: (namespace, name) -> keys."""
    present = {(obj.namespace or "default", obj.name) for obj in applied if obj.kind == "Secret"}
    missing: dict[tuple[str, str], set[str]] = {}
    for obj in applied:
        for name, key in _secret_refs(obj):
            where = (obj.namespace or "default", name)
            if where not in present:
                missing.setdefault(where, set()).add(key)
    return missing


def _readme(manifests: ClusterManifests, applied: Sequence[KubeObject], unknown: Sequence[str]) -> str:
    lines = [
        f"# Manifests for cluster `{manifests.cluster}`",
        "",
        'Rendered offline by `make plan ARGS="--manifests DIR"` from the stack config; `pulumi up` creates',
        "the same objects. Files are numbered in apply order. From the folder above this one:",
        "",
        "```sh",
    ]
    missing = _missing_secrets(applied)
    for (namespace, name), keys in sorted(missing.items()):
        literals = " ".join(f'--from-literal={key}="$HF_TOKEN"' for key in sorted(keys))
        lines.append(f"kubectl create secret generic {name} -n {namespace} {literals}")
    for url in manifests.remote_files:
        lines.append(f"kubectl apply -f {url}")
    lines += [f"kubectl apply -f {manifests.cluster}/", "```", ""]
    if missing:
        lines += [
            "Secret values never reach these files: create the Secrets above first (the value is the",
            "stack's `hfToken`).",
            "",
        ]
    if unknown:
        lines += [
            "These fields are only known after `pulumi up` (e.g. the digest of a freshly built picker",
            "image); fill them in before applying by hand:",
            "",
            *(f"- {entry}" for entry in unknown),
            "",
        ]
    return "\n".join(lines)
