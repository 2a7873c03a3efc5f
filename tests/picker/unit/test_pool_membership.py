from __future__ import annotations

from typing import Any

import pytest
from picker.datastore.pool_membership import PoolMembership, pool_spec_from_object
from picker.datastore.store import EndpointStore

POOL_V1 = {
    "apiVersion": "inference.networking.k8s.io/v1",
    "kind": "InferencePool",
    "metadata": {"name": "llama", "namespace": "serving"},
    "spec": {
        "selector": {"matchLabels": {"app": "vllm-llama"}},
        "targetPorts": [{"number": 8000}, {"number": 8001}],
        "endpointPickerRef": {"name": "llama-epp", "port": {"number": 9002}},
    },
}


def pod(
    name: str, ip: str = "10.4.0.7", ready: bool = True, deleting: bool = False, app: str = "vllm-llama"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "serving", "labels": {"app": app}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-21T20:00:00Z"
    return {
        "metadata": metadata,
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def objective(
    name: str, priority: int | None, pool: str = "llama", group: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"poolRef": {"name": pool}}
    if group is not None:
        spec["poolRef"]["group"] = group
    if priority is not None:
        spec["priority"] = priority
    return {"metadata": {"name": name}, "spec": spec}


@pytest.fixture
def membership() -> tuple[PoolMembership, EndpointStore]:
    store = EndpointStore()
    tracker = PoolMembership(store, "llama")
    assert tracker.on_pool_event("ADDED", POOL_V1) is True
    return tracker, store


def names(store: EndpointStore) -> list[str]:
    return sorted(state.endpoint.name for state in store.candidates())


def test_one_endpoint_per_target_port_named_by_rank(membership) -> None:
    tracker, store = membership
    tracker.on_pod_event("ADDED", pod("vllm-0"))
    assert names(store) == ["vllm-0-rank-0", "vllm-0-rank-1"]
    assert sorted(s.endpoint.hostport for s in store.candidates()) == ["10.4.0.7:8000", "10.4.0.7:8001"]


@pytest.mark.parametrize(
    "candidate",
    [pod("p", ready=False), pod("p", deleting=True), pod("p", app="other"), pod("p", ip="")],
    ids=["not ready", "terminating", "selector does not match", "no IP yet"],
)
def test_pods_that_are_not_candidates(membership, candidate) -> None:
    tracker, store = membership
    tracker.on_pod_event("ADDED", candidate)
    assert names(store) == []


def test_pod_lifecycle(membership) -> None:
    tracker, store = membership
    tracker.on_pod_event("ADDED", pod("vllm-0", ready=False))
    tracker.on_pod_event("MODIFIED", pod("vllm-0"))
    assert len(names(store)) == 2
    tracker.on_pod_event("MODIFIED", pod("vllm-0", deleting=True))
    assert names(store) == []
    tracker.on_pod_event("MODIFIED", pod("vllm-0"))
    tracker.on_pod_event("DELETED", pod("vllm-0"))
    assert names(store) == []


def test_pool_port_change_rebuilds_endpoints_without_restarting_the_watch(membership) -> None:
    tracker, store = membership
    tracker.resync_pods([pod("a", "10.4.0.1"), pod("b", "10.4.0.2")])
    single_port = {**POOL_V1, "spec": {**POOL_V1["spec"], "targetPorts": [{"number": 9000}]}}
    assert tracker.on_pool_event("MODIFIED", single_port) is False
    assert names(store) == ["a-rank-0", "b-rank-0"]
    assert {s.endpoint.port for s in store.candidates()} == {9000}


def test_selector_change_asks_for_a_new_pod_watch_and_drops_unmatched(membership) -> None:
    tracker, store = membership
    tracker.resync_pods([pod("a")])
    relabelled = {**POOL_V1, "spec": {**POOL_V1["spec"], "selector": {"matchLabels": {"app": "vllm-new"}}}}
    assert tracker.on_pool_event("MODIFIED", relabelled) is True
    assert names(store) == []
    assert tracker.spec.label_selector == "app=vllm-new"


def test_pool_deletion_empties_the_store(membership) -> None:
    tracker, store = membership
    tracker.resync_pods([pod("a")])
    tracker.on_pool_event("DELETED", POOL_V1)
    assert names(store) == []


def test_other_pools_are_ignored(membership) -> None:
    tracker, _ = membership
    other = {**POOL_V1, "metadata": {"name": "other"}}
    assert tracker.on_pool_event("MODIFIED", other) is False


def test_v1alpha2_pool_shape() -> None:
    spec = pool_spec_from_object({"spec": {"selector": {"app": "x"}, "targetPortNumber": 8000}})
    assert (dict(spec.match_labels), spec.target_ports) == ({"app": "x"}, (8000,))


def test_pool_without_ports_is_rejected() -> None:
    with pytest.raises(ValueError, match="target port"):
        pool_spec_from_object({"spec": {"selector": {"matchLabels": {"app": "x"}}}})


def test_objectives_of_this_pool_set_priorities(membership) -> None:
    tracker, store = membership
    tracker.resync_objectives(
        [
            objective("critical", 10),
            objective("unset", None),
            objective("foreign", 5, pool="other"),
            objective("alpha-group", 7, group="inference.networking.x-k8s.io"),
        ]
    )
    assert store.objectives() == {"critical": 10, "unset": 0}
    tracker.on_objective_event("MODIFIED", objective("critical", 3))
    tracker.on_objective_event("MODIFIED", objective("unset", 1, pool="other"))  # moved away
    assert store.objectives() == {"critical": 3}
    tracker.on_objective_event("DELETED", objective("critical", 3))
    assert store.objectives() == {}
