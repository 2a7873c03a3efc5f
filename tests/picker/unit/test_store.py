from __future__ import annotations

from picker.datastore.store import EndpointStore
from picker.framework.types import Endpoint, EndpointMetrics


def endpoint(name: str, address: str = "10.0.0.1", port: int = 8000) -> Endpoint:
    return Endpoint(name=name, address=address, port=port)


def test_candidates_exclude_unreachable_until_a_scrape_succeeds() -> None:
    store = EndpointStore()
    store.replace_endpoints([endpoint("a"), endpoint("b", "10.0.0.2")])
    store.mark_unreachable("a")
    assert [s.endpoint.name for s in store.candidates()] == ["b"]
    store.update_metrics("a", EndpointMetrics(waiting_queue_size=1))
    assert [s.endpoint.name for s in store.candidates()] == ["a", "b"]
    assert store.get("a").metrics.waiting_queue_size == 1


def test_snapshot_is_immutable_across_updates() -> None:
    store = EndpointStore()
    store.replace_endpoints([endpoint("a")])
    snapshot = store.candidates()
    store.update_metrics("a", EndpointMetrics(waiting_queue_size=9))
    assert snapshot[0].metrics is None
    assert store.candidates()[0].metrics.waiting_queue_size == 9


def test_listeners_see_additions_departures_and_address_changes() -> None:
    store = EndpointStore()
    events: list[tuple[list[str], list[str]]] = []
    store.add_listener(lambda added, removed: events.append(([e.name for e in added], removed)))
    store.replace_endpoints([endpoint("a"), endpoint("b", "10.0.0.2")])
    store.update_metrics("a", EndpointMetrics(running_requests=2))
    store.replace_endpoints([endpoint("a"), endpoint("b", "10.0.0.3")])  # b moved
    store.replace_endpoints([endpoint("a", "10.0.0.1")])
    assert events == [(["a", "b"], []), (["b"], ["b"]), ([], ["b"])]  # a moved endpoint is removed and added
    assert store.get("a").metrics.running_requests == 2  # unchanged endpoint keeps its metrics


def test_metrics_for_a_departed_endpoint_are_dropped() -> None:
    store = EndpointStore()
    store.update_metrics("ghost", EndpointMetrics())
    assert store.candidates() == ()


def test_objective_priorities_default_to_zero() -> None:
    store = EndpointStore()
    store.replace_objectives({"critical": 10, "batch": -1})
    assert [store.priority_of(name) for name in ("critical", "batch", "unknown", None)] == [10, -1, 0, 0]
