"""The Kubernetes source's list+watch plumbing against an in-memory fake API (no API server here).

The fake answers LIST calls with a listing and WATCH calls (``watch=True``) with a stream of JSON event
lines, as the API server does; the real ``kubernetes_asyncio.watch.Watch`` parses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from picker.datastore.kubernetes_source import KubernetesEndpointSource
from picker.datastore.store import EndpointStore
from picker.framework.clock import FakeClock

from tests.picker.unit.test_pool_membership import POOL_V1, objective, pod


class FakeStream:
    """An aiohttp-like response body: one JSON event per line, then a parked read (an open watch)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._lines = [json.dumps(event).encode() + b"\n" for event in events]
        self.content = self

    async def readline(self) -> bytes:
        if self._lines:
            return self._lines.pop(0)
        await asyncio.Event().wait()  # the watch stays open until the test cancels it
        return b""

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeKind:
    """LIST returns ``items``; WATCH streams ``events``; ``failures`` LIST calls fail first."""

    def __init__(self, items: list[dict[str, Any]], events: list[dict[str, Any]], failures: int = 0) -> None:
        self.items = items
        self.events = events
        self.failures = failures
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if kwargs.get("watch"):
            return FakeStream(self.events)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("API server unavailable")
        return {"items": self.items, "metadata": {"resourceVersion": "7"}}


class FakeCustomObjects:
    def __init__(self, pools: FakeKind, objectives: FakeKind) -> None:
        self.kinds = {"inferencepools": pools, "inferenceobjectives": objectives}

    async def list_namespaced_custom_object(self, **kwargs: Any) -> Any:
        return await self.kinds[kwargs["plural"]](**kwargs)


class FakeCore:
    def __init__(self, pods: FakeKind) -> None:
        self.pods = pods

    async def list_namespaced_pod(self, **kwargs: Any) -> Any:
        return await self.pods(**kwargs)


class FakeApiClient:
    @staticmethod
    def sanitize_for_serialization(value: Any) -> Any:
        return value


async def wait_for(predicate, clock: FakeClock) -> None:
    for _ in range(200):
        if predicate():
            return
        await clock.advance(0.5)
    raise AssertionError("condition not reached")


@contextlib.asynccontextmanager
async def watching(source: KubernetesEndpointSource, custom: FakeCustomObjects, core: FakeCore):
    task = asyncio.create_task(source.watch(FakeApiClient(), custom, core))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_list_then_watch_keeps_the_store_in_step() -> None:
    clock = FakeClock()
    store = EndpointStore()
    pools = FakeKind([POOL_V1], [])
    objectives = FakeKind([objective("critical", 10)], [{"type": "ADDED", "object": objective("batch", -1)}])
    pods = FakeKind(
        [pod("vllm-0", "10.4.0.1")],
        [
            {"type": "ADDED", "object": pod("vllm-1", "10.4.0.2")},
            {"type": "MODIFIED", "object": pod("vllm-0", "10.4.0.1", deleting=True)},
        ],
    )
    source = KubernetesEndpointSource(store, clock, "llama", "serving")
    async with watching(source, FakeCustomObjects(pools, objectives), FakeCore(pods)):
        await wait_for(lambda: store.synced and store.objectives().get("batch") == -1, clock)
        await wait_for(
            lambda: {s.endpoint.name for s in store.candidates()} == {"vllm-1-rank-0", "vllm-1-rank-1"}, clock
        )
    assert store.priority_of("critical") == 10
    pod_list_call = pods.calls[0]
    assert pod_list_call["label_selector"] == "app=vllm-llama" and pod_list_call["namespace"] == "serving"
    pool_call = pools.calls[0]
    assert (pool_call["group"], pool_call["version"], pool_call["field_selector"]) == (
        "inference.networking.k8s.io",
        "v1",
        "metadata.name=llama",
    )
    assert objectives.calls[0]["group"] == "inference.networking.x-k8s.io"
    assert objectives.calls[0]["version"] == "v1alpha2"
    assert pods.calls[1]["watch"] is True and pods.calls[1]["resource_version"] == "7"


async def test_api_errors_are_retried_without_losing_state() -> None:
    clock = FakeClock()
    store = EndpointStore()
    pools = FakeKind([POOL_V1], [], failures=2)
    pods = FakeKind([pod("vllm-0")], [])
    source = KubernetesEndpointSource(store, clock, "llama", "serving")
    async with watching(source, FakeCustomObjects(pools, FakeKind([], [])), FakeCore(pods)):
        await wait_for(lambda: store.synced, clock)
    assert len([call for call in pools.calls if not call.get("watch")]) == 3


def test_unknown_pool_group_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported pool group"):
        KubernetesEndpointSource(EndpointStore(), FakeClock(), "p", "ns", pool_group="example.com")
