"""The local gateway's Envoy bootstrap: one listener; per pool the picker as ext_proc (FULL_DUPLEX_STREAMED,
BUFFERED for FailOpen pools), the override-host route over the pool's replicas and the fallback; pools
chosen by the body's model.

Override-host, not the Inference Extension's reference ORIGINAL_DST: the picker answers a primary and
fallbacks, and override-host connects to the primary and, on each retry, to the next fallback, so a
request whose replica just died is served elsewhere (ORIGINAL_DST can only connect to the primary). It
also only reaches the pool's own replicas, whatever address the picker names.

One pool is exactly the shared generator's bootstrap (infgw.envoy). Several pools compose one
generated bootstrap per pool: each pool's ext_proc filter, clusters (its picked-endpoint cluster holds
that pool's replicas only) and routes are renamed apart, a Lua body-based router sets
``x-gateway-model-name``, each route matches that header and disables the other pools' ext_proc filters.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from infgw.envoy import (
    WORKER_STREAMS_PER_CONNECTION,
    BodyMode,
    DestinationRouting,
    EnvoyBootstrapSpec,
    PickerConnection,
    build_bootstrap,
)
from infgw.envoy.bootstrap import (
    ENVOY_TYPE_URL,
    EXT_PROC_FILTER,
    PICKED_ENDPOINT_CLUSTER,
    PICKER_CLUSTER,
    ROUND_ROBIN_CLUSTER,
    TYPE_KEY,
)
from infgw.local.body_router import MODEL_HEADER, body_router_filter
from infgw.local.plan import LocalPlan, PoolPlan

_EXT_PROC_PER_ROUTE = ENVOY_TYPE_URL + "extensions.filters.http.ext_proc.v3.ExtProcPerRoute"
# Lua buffers whole request bodies to read the model; long prompts need more than Envoy's 1 MiB default.
MULTI_POOL_BUFFER_LIMIT_BYTES = 16 * 1024 * 1024
# A refused connection or stream (a dead replica) and a reset before any response byte (a replica killed
# with the request in flight) move on to the picker's next endpoint. Envoy never retries once response
# headers have reached the client, so a started stream is not replayed.
RETRY_ON = ("connect-failure", "refused-stream", "reset")
# Enough to walk the recommended profile's two fallbacks (maxNumOfEndpoints 3) and one spare:
# the setting the reliability harness measured its replica-loss figures with (docs/reliability.md).
NUM_RETRIES = 3


class PoolAddresses(BaseModel):
    """Where one pool's processes listen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    picker_port: int
    replicas: tuple[str, ...]  # ip:port
    # The ext_proc ports of the pool's other picker replicas: Envoy health-checks every replica and
    # round-robins streams over the serving ones (the leader with leader election; all when active-active).
    standby_picker_ports: tuple[int, ...] = ()


def _runs_workers(pool: PoolPlan) -> bool:
    from picker.preflight import check_command_line

    return check_command_line(pool.picker.args).workers != 1


def pool_bootstrap_spec(
    pool: PoolPlan,
    addresses: PoolAddresses,
    *,
    route_timeout_s: float,
    listener_port: int,
    picker_tls: bool,
    access_log: bool = False,
) -> EnvoyBootstrapSpec:
    """The generator's input for one pool: override-host over its replicas with retries; FailOpen pools
    buffer requests and send what the picker did not route round-robin, FailClose pools answer it 503."""
    picker = PickerConnection(
        port=addresses.picker_port,
        standby_ports=addresses.standby_picker_ports,
        # With several replicas Envoy must find the serving ones: followers answer NOT_SERVING on ext_proc.
        health_check=bool(addresses.standby_picker_ports),
        tls=picker_tls,
        failure_mode_allow=pool.fail_open,
        # Envoy fails open in FULL_DUPLEX_STREAMED only before the first body chunk (see PickerConnection).
        request_body_mode=BodyMode.BUFFERED if pool.fail_open else BodyMode.FULL_DUPLEX_STREAMED,
        max_streams_per_connection=WORKER_STREAMS_PER_CONNECTION if _runs_workers(pool) else None,
    )
    return EnvoyBootstrapSpec(
        listener_port=listener_port,
        picker=picker,
        endpoints=addresses.replicas,
        round_robin_fallback=pool.fail_open,
        destination_routing=DestinationRouting.OVERRIDE_HOST,
        retry_on=RETRY_ON,
        num_retries=NUM_RETRIES,
        route_timeout_s=route_timeout_s,
        access_log=access_log,
    )


def _http_connection_manager(bootstrap: dict[str, Any]) -> dict[str, Any]:
    listener = bootstrap["static_resources"]["listeners"][0]
    manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return manager


def cluster_name(cluster: str, pool: str) -> str:
    """The name of one pool's copy of a generated cluster in a multi-pool bootstrap."""
    return f"{cluster}/{pool}"


def _cluster_names(pool: str) -> dict[str, str]:
    return {
        cluster: cluster_name(cluster, pool)
        for cluster in (PICKER_CLUSTER, PICKED_ENDPOINT_CLUSTER, ROUND_ROBIN_CLUSTER)
    }


def ext_proc_filter_name(pool: str) -> str:
    return f"{EXT_PROC_FILTER}/{pool}"


def _pool_parts(
    bootstrap: dict[str, Any], pool: str
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Clusters, ext_proc filter and routes of one pool's generated bootstrap, renamed for ``pool``."""
    renames = _cluster_names(pool)
    clusters = []
    for cluster in bootstrap["static_resources"]["clusters"]:
        cluster = copy.deepcopy(cluster)
        cluster["name"] = renames[cluster["name"]]
        if "load_assignment" in cluster:  # an ORIGINAL_DST cluster has none
            cluster["load_assignment"]["cluster_name"] = cluster["name"]
        clusters.append(cluster)
    manager = _http_connection_manager(bootstrap)
    ext_proc = copy.deepcopy(next(f for f in manager["http_filters"] if f["name"] == EXT_PROC_FILTER))
    ext_proc["name"] = ext_proc_filter_name(pool)
    ext_proc["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"] = renames[PICKER_CLUSTER]
    routes = copy.deepcopy(manager["route_config"]["virtual_hosts"][0]["routes"])
    for route in routes:
        action = route.get("route")
        if action is not None and action["cluster"] in renames:
            action["cluster"] = renames[action["cluster"]]
    return clusters, ext_proc, routes


def _scoped_routes(
    routes: Sequence[dict[str, Any]], model: str | None, disabled_filters: Sequence[str]
) -> list[dict[str, Any]]:
    scoped = []
    for route in routes:
        route = copy.deepcopy(route)
        if model is not None:
            route["match"]["headers"] = [{"name": MODEL_HEADER, "string_match": {"exact": model}}]
        route["typed_per_filter_config"] = {
            name: {TYPE_KEY: _EXT_PROC_PER_ROUTE, "disabled": True} for name in disabled_filters
        }
        scoped.append(route)
    return scoped


def build_local_bootstrap(
    plan: LocalPlan,
    addresses: Mapping[str, PoolAddresses],
    *,
    listener_port: int = 0,
    picker_tls: bool = False,
    access_log: bool = False,
) -> dict[str, Any]:
    """The bootstrap for ``plan`` with each pool's processes at ``addresses[pool.name]``."""
    bootstraps = {
        pool.name: build_bootstrap(
            pool_bootstrap_spec(
                pool,
                addresses[pool.name],
                route_timeout_s=plan.route_timeout_s,
                listener_port=listener_port,
                picker_tls=picker_tls,
                access_log=access_log,
            )
        )
        for pool in plan.pools
    }
    if len(plan.pools) == 1:
        return bootstraps[plan.pools[0].name]

    base = copy.deepcopy(bootstraps[plan.default_pool])
    clusters: list[dict[str, Any]] = []
    ext_proc_filters: list[dict[str, Any]] = []
    routes_by_pool: dict[str, list[dict[str, Any]]] = {}
    for pool in plan.pools:
        pool_clusters, ext_proc, pool_routes = _pool_parts(bootstraps[pool.name], pool.name)
        clusters += pool_clusters
        ext_proc_filters.append(ext_proc)
        routes_by_pool[pool.name] = pool_routes

    all_filters = [ext_proc_filter_name(pool.name) for pool in plan.pools]
    routes: list[dict[str, Any]] = []
    for pool in plan.pools:
        others = [name for name in all_filters if name != ext_proc_filter_name(pool.name)]
        for model in pool.model_names:
            routes += _scoped_routes(routes_by_pool[pool.name], model, others)
    # No model in the body (GET /v1/models) or one no route names: the default pool answers, and its
    # replicas return vLLM's 404 for an unknown model.
    default_others = [name for name in all_filters if name != ext_proc_filter_name(plan.default_pool)]
    routes += _scoped_routes(routes_by_pool[plan.default_pool], None, default_others)

    # The generated chain, with its one ext_proc filter replaced by the body-based router and every
    # pool's ext_proc; filters the generator places around ext_proc keep their positions.
    manager = _http_connection_manager(base)
    chain: list[dict[str, Any]] = []
    for http_filter in manager["http_filters"]:
        if http_filter["name"] == EXT_PROC_FILTER:
            chain += [body_router_filter(), *ext_proc_filters]
        else:
            chain.append(http_filter)
    manager["http_filters"] = chain
    manager["route_config"]["virtual_hosts"][0]["routes"] = routes
    listener = base["static_resources"]["listeners"][0]
    listener["per_connection_buffer_limit_bytes"] = MULTI_POOL_BUFFER_LIMIT_BYTES
    base["static_resources"]["clusters"] = clusters
    return base
