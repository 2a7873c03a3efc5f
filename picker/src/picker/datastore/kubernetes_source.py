"""Pool membership from the Kubernetes API: list+watch the InferencePool, its Pods and InferenceObjectives.

Thin I/O around :class:`PoolMembership` (all decisions live there). Every watch relists after an error or
a server-side timeout, so a restarted API server or an expired resourceVersion (410) only delays updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch

from picker.datastore.pool_membership import POOL_GROUP_V1, PoolMembership
from picker.datastore.store import EndpointStore
from picker.framework.clock import Clock
from picker.kubernetes_api import kubernetes_api_client

logger = logging.getLogger(__name__)

OBJECTIVE_GROUP = "inference.networking.x-k8s.io"
OBJECTIVE_VERSION = "v1alpha2"
POOL_VERSION_BY_GROUP = {POOL_GROUP_V1: "v1", "inference.networking.x-k8s.io": "v1alpha2"}
_WATCH_TIMEOUT_S = 300
_RETRY_DELAY_S = 1.0

ListFunction = Callable[..., Awaitable[Any]]
EventHandler = Callable[[str, Mapping[str, Any]], None]
ResyncHandler = Callable[[list[Mapping[str, Any]]], None]


class KubernetesEndpointSource:
    """Watches one InferencePool (by name, in one namespace) and keeps the store in step with it."""

    def __init__(
        self,
        store: EndpointStore,
        clock: Clock,
        pool_name: str,
        namespace: str,
        pool_group: str = POOL_GROUP_V1,
        kubeconfig: Path | None = None,
    ) -> None:
        if pool_group not in POOL_VERSION_BY_GROUP:
            raise ValueError(
                f"unsupported pool group {pool_group!r}; use one of {sorted(POOL_VERSION_BY_GROUP)}"
            )
        self._store = store
        self._clock = clock
        self._namespace = namespace
        self._pool_group = pool_group
        self._kubeconfig = kubeconfig
        self.membership = PoolMembership(store, pool_name, pool_group)
        self._selector_changed = asyncio.Event()

    async def run(self) -> None:
        """Connect (``--kubeconfig``, else in-cluster, else ~/.kube/config) and watch until cancelled."""
        async with kubernetes_api_client(self._kubeconfig) as api:
            await self.watch(api, client.CustomObjectsApi(api), client.CoreV1Api(api))

    async def watch(self, api: Any, custom: Any, core: Any) -> None:
        """Run the three watches with the given API objects (real ones from :meth:`run`, fakes in tests)."""
        # A TaskGroup cancels the other watches when one fails, and all of them when this is cancelled.
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch_pool(api, custom), name="watch:inferencepool")
            group.create_task(self._watch_objectives(api, custom), name="watch:inferenceobjectives")
            group.create_task(self._watch_pods_following_selector(api, core), name="watch:pods")

    async def _watch_pool(self, api: client.ApiClient, custom: client.CustomObjectsApi) -> None:
        version = POOL_VERSION_BY_GROUP[self._pool_group]
        kwargs = {
            "group": self._pool_group,
            "version": version,
            "namespace": self._namespace,
            "plural": "inferencepools",
            "field_selector": f"metadata.name={self.membership.pool_name}",
        }

        def resync(pools: list[Mapping[str, Any]]) -> None:
            if not pools:
                logger.warning("InferencePool %s/%s not found", self._namespace, self.membership.pool_name)
            for pool in pools:
                self._on_pool("ADDED", pool)

        await self._list_and_watch(api, custom.list_namespaced_custom_object, kwargs, resync, self._on_pool)

    def _on_pool(self, event_type: str, pool: Mapping[str, Any]) -> None:
        try:
            if self.membership.on_pool_event(event_type, pool):
                self._selector_changed.set()
        except ValueError as error:
            logger.error("ignoring InferencePool update: %s", error)

    async def _watch_objectives(self, api: client.ApiClient, custom: client.CustomObjectsApi) -> None:
        kwargs = {
            "group": OBJECTIVE_GROUP,
            "version": OBJECTIVE_VERSION,
            "namespace": self._namespace,
            "plural": "inferenceobjectives",
        }
        await self._list_and_watch(
            api,
            custom.list_namespaced_custom_object,
            kwargs,
            self.membership.resync_objectives,
            self.membership.on_objective_event,
        )

    async def _watch_pods_following_selector(self, api: client.ApiClient, core: client.CoreV1Api) -> None:
        """(Re)start the pod watch whenever the pool's selector changes."""
        while True:
            await self._selector_changed.wait()
            self._selector_changed.clear()
            spec = self.membership.spec
            if spec is None:
                self.membership.resync_pods([])
                continue
            kwargs = {"namespace": self._namespace, "label_selector": spec.label_selector}

            def resync(pods: list[Mapping[str, Any]]) -> None:
                self.membership.resync_pods(pods)
                self._store.mark_synced()

            pod_watch = asyncio.create_task(
                self._list_and_watch(
                    api, core.list_namespaced_pod, kwargs, resync, self.membership.on_pod_event
                )
            )
            changed = asyncio.create_task(self._selector_changed.wait())
            try:
                await asyncio.wait({pod_watch, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pod_watch, changed):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _list_and_watch(
        self,
        api: client.ApiClient,
        list_function: ListFunction,
        kwargs: Mapping[str, Any],
        resync: ResyncHandler,
        on_event: EventHandler,
    ) -> None:
        while True:
            try:
                listing = await list_function(**kwargs)
                listing_dict = (
                    listing if isinstance(listing, dict) else api.sanitize_for_serialization(listing)
                )
                resync(list(listing_dict.get("items") or []))
                resource_version = (listing_dict.get("metadata") or {}).get("resourceVersion")
                async with watch.Watch() as stream_watch:
                    async for event in stream_watch.stream(
                        list_function,
                        **kwargs,
                        resource_version=resource_version,
                        timeout_seconds=_WATCH_TIMEOUT_S,
                    ):
                        event_type = event.get("type")
                        raw = event.get("raw_object")
                        if event_type == "ERROR" or not isinstance(raw, dict):
                            break  # typically 410 Gone: relist
                        if event_type != "BOOKMARK":
                            on_event(event_type, raw)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # API down, RBAC, network: keep the last state and retry
                logger.warning("watch %s failed, relisting: %s", kwargs.get("plural", "pods"), error)
                await self._clock.sleep(_RETRY_DELAY_S)
