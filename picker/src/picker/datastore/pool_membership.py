"""Pure event handling for the Kubernetes source: pool spec, pods and objectives -> store updates.

No I/O here: objects are Kubernetes JSON dicts (camelCase, as the API server sends them), so unit tests
drive this with literal dicts and the watch loops stay thin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from picker.datastore.store import EndpointStore
from picker.framework.types import Endpoint

POOL_GROUP_V1 = "inference.networking.k8s.io"
POOL_GROUP_ALPHA = "inference.networking.x-k8s.io"


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What the picker needs from an InferencePool: the pod selector and the target ports."""

    match_labels: Mapping[str, str]
    target_ports: tuple[int, ...]

    @property
    def label_selector(self) -> str:
        """The selector in the API's ``labelSelector`` query form."""
        return ",".join(f"{key}={value}" for key, value in sorted(self.match_labels.items()))

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match_labels.items())


def pool_spec_from_object(pool: Mapping[str, Any]) -> PoolSpec:
    """Read v1 (``selector.matchLabels``, ``targetPorts[].number``) or v1alpha2 (``selector`` map,
    ``targetPortNumber``). Raises ValueError for a pool without a usable selector or port."""
    spec = pool.get("spec") or {}
    selector = spec.get("selector") or {}
    if "matchLabels" in selector:
        match_labels = selector.get("matchLabels") or {}
    else:
        match_labels = selector
    ports: tuple[int, ...]
    if "targetPorts" in spec:
        ports = tuple(int(port["number"]) for port in spec.get("targetPorts") or [])
    elif "targetPortNumber" in spec:
        ports = (int(spec["targetPortNumber"]),)
    else:
        ports = ()
    if not match_labels or not ports:
        raise ValueError("InferencePool needs spec.selector labels and at least one target port")
    return PoolSpec(match_labels={str(k): str(v) for k, v in match_labels.items()}, target_ports=ports)


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """PodReady=True, not being deleted, and an IP assigned (the EPP's candidate rule)."""
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )


def endpoints_for_pod(pod: Mapping[str, Any], spec: PoolSpec) -> list[Endpoint]:
    """One endpoint per target port, named ``<pod>-rank-<i>``; none for a pod that is not a candidate."""
    metadata = pod.get("metadata") or {}
    labels = metadata.get("labels") or {}
    if not spec.selects(labels) or not pod_is_ready(pod):
        return []
    address = (pod.get("status") or {})["podIP"]
    return [
        Endpoint(name=f"{metadata['name']}-rank-{rank}", address=address, port=port, labels=dict(labels))
        for rank, port in enumerate(spec.target_ports)
    ]


class PoolMembership:
    """Applies watch events for one InferencePool to an EndpointStore."""

    def __init__(self, store: EndpointStore, pool_name: str, pool_group: str = POOL_GROUP_V1) -> None:
        self._store = store
        self.pool_name = pool_name
        self.pool_group = pool_group
        self.spec: PoolSpec | None = None
        self._pods: dict[str, Mapping[str, Any]] = {}
        self._endpoint_names_by_pod: dict[str, list[str]] = {}
        self._objective_names: set[str] = set()

    # -- InferencePool ----------------------------------------------------------------------------
    def on_pool_event(self, event_type: str, pool: Mapping[str, Any]) -> bool:
        """Returns True when the pod selector changed (the caller restarts its pod watch)."""
        if (pool.get("metadata") or {}).get("name") != self.pool_name:
            return False
        if event_type == "DELETED":
            self.spec = None
            self._refresh_all()
            return True
        spec = pool_spec_from_object(pool)
        selector_changed = self.spec is None or spec.match_labels != self.spec.match_labels
        if spec != self.spec:
            self.spec = spec
            self._refresh_all()
        return selector_changed

    # -- Pods -----------------------------------------------------------------------------------
    def resync_pods(self, pods: Iterable[Mapping[str, Any]]) -> None:
        """Replace the known pods with a fresh LIST result."""
        self._pods = {pod["metadata"]["name"]: pod for pod in pods}
        self._refresh_all()

    def on_pod_event(self, event_type: str, pod: Mapping[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if event_type == "DELETED":
            self._pods.pop(name, None)
        else:
            self._pods[name] = pod
        self._refresh_pod(name)

    # -- InferenceObjectives --------------------------------------------------------------------
    def resync_objectives(self, objectives: Iterable[Mapping[str, Any]]) -> None:
        for name in list(self._objective_names):
            self._store.remove_objective(name)
        self._objective_names.clear()
        for objective in objectives:
            self.on_objective_event("ADDED", objective)

    def on_objective_event(self, event_type: str, objective: Mapping[str, Any]) -> None:
        name = (objective.get("metadata") or {}).get("name")
        if not name:
            return
        spec = objective.get("spec") or {}
        pool_ref = spec.get("poolRef") or {}
        belongs = (
            pool_ref.get("name") == self.pool_name
            and (pool_ref.get("group") or POOL_GROUP_V1) == self.pool_group
        )
        if event_type == "DELETED" or not belongs:
            if name in self._objective_names:
                self._objective_names.discard(name)
                self._store.remove_objective(name)
            return
        priority = spec.get("priority")
        self._objective_names.add(name)
        self._store.upsert_objective(name, int(priority) if priority is not None else 0)

    # -- internals -------------------------------------------------------------------------------
    def _refresh_all(self) -> None:
        for pod_name in set(self._pods) | set(self._endpoint_names_by_pod):
            self._refresh_pod(pod_name)

    def _refresh_pod(self, pod_name: str) -> None:
        pod = self._pods.get(pod_name)
        endpoints = endpoints_for_pod(pod, self.spec) if pod is not None and self.spec is not None else []
        wanted = {endpoint.name for endpoint in endpoints}
        for stale in self._endpoint_names_by_pod.get(pod_name, []):
            if stale not in wanted:
                self._store.remove_endpoint(stale)
        for endpoint in endpoints:
            self._store.upsert_endpoint(endpoint)
        if endpoints:
            self._endpoint_names_by_pod[pod_name] = sorted(wanted)
        else:
            self._endpoint_names_by_pod.pop(pod_name, None)
