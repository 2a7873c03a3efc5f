"""The local gateway's Envoy bootstrap: one pool is the shared generator's; several pools are routed by
the body's model name, each to its own picker, with the other pools' ext_proc filters disabled. Every
pool routes with override-host over its own replicas and retries on the picker's fallbacks."""

from __future__ import annotations

import pytest
from local_gateway_stacks import LLAMA, QWEN

from infgw.envoy import BodyMode, DestinationRouting, build_bootstrap, validate_bootstrap
from infgw.envoy.bootstrap import PICKED_ENDPOINT_CLUSTER, ROUND_ROBIN_CLUSTER
from infgw.local.body_router import MODEL_HEADER
from infgw.local.envoy_config import (
    EXT_PROC_FILTER,
    PoolAddresses,
    build_local_bootstrap,
    cluster_name,
    ext_proc_filter_name,
    pool_bootstrap_spec,
)
from infgw.local.plan import LocalPlan

ADDRESSES = {
    "llama": PoolAddresses(picker_port=9100, replicas=("127.0.0.1:8001", "127.0.0.1:8002")),
    "qwen": PoolAddresses(picker_port=9200, replicas=("127.0.0.1:8003",)),
}






def manager(bootstrap):
    return bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def routes(bootstrap):
    return manager(bootstrap)["route_config"]["virtual_hosts"][0]["routes"]


def clusters(bootstrap):
    return {cluster["name"]: cluster for cluster in bootstrap["static_resources"]["clusters"]}


def override_host_endpoints(cluster) -> set[str]:
    """The ip:port members of an override-host cluster, after checking it is one."""
    policy = cluster["load_balancing_policy"]["policies"][0]["typed_extension_config"]
    assert policy["name"] == "envoy.load_balancing_policies.override_host"
    assert cluster["type"] == "STATIC"
    (locality,) = cluster["load_assignment"]["endpoints"]
    return {
        f"{lb['endpoint']['address']['socket_address']['address']}:"
        f"{lb['endpoint']['address']['socket_address']['port_value']}"
        for lb in locality["lb_endpoints"]
    }


def test_fail_close_pool_streams_full_duplex_and_routes_override_host_without_fallback(one_pool_plan: LocalPlan) -> None:
    spec = pool_bootstrap_spec(
        one_pool_plan.pools[0], ADDRESSES["llama"], route_timeout_s=60, listener_port=0, picker_tls=False
    )
    assert spec.picker is not None
    assert spec.picker.request_body_mode is BodyMode.FULL_DUPLEX_STREAMED
    assert spec.picker.response_body_mode is BodyMode.FULL_DUPLEX_STREAMED
    assert not spec.picker.failure_mode_allow
    assert not spec.picker.tls
    assert spec.picker.port == 9100
    # The pool is known to Envoy (override-host routes within it), but FailClose sends nothing round-robin.
    assert spec.endpoints == ADDRESSES["llama"].replicas
    assert not spec.round_robin_fallback
    assert spec.destination_routing is DestinationRouting.OVERRIDE_HOST
    assert spec.route_timeout_s == 60
    bootstrap = build_bootstrap(spec)
    assert set(clusters(bootstrap)) == {"endpoint_picker", PICKED_ENDPOINT_CLUSTER}
    picked, unpicked = routes(bootstrap)
    assert picked["route"]["cluster"] == PICKED_ENDPOINT_CLUSTER
    assert unpicked["direct_response"]["status"] == 503


def test_fail_open_pool_buffers_requests_and_falls_back_round_robin(two_pool_plan: LocalPlan) -> None:
    spec = pool_bootstrap_spec(
        two_pool_plan.pool("qwen"), ADDRESSES["qwen"], route_timeout_s=60, listener_port=0, picker_tls=True
    )
    assert spec.picker is not None
    assert spec.picker.failure_mode_allow
    assert spec.picker.request_body_mode is BodyMode.BUFFERED
    assert spec.picker.tls
    assert spec.endpoints == ("127.0.0.1:8003",)
    assert spec.round_robin_fallback
    assert spec.destination_routing is DestinationRouting.OVERRIDE_HOST


def test_one_pool_is_exactly_the_shared_generators_bootstrap(one_pool_plan: LocalPlan) -> None:
    plan = one_pool_plan
    bootstrap = build_local_bootstrap(plan, ADDRESSES, listener_port=8080)
    spec = pool_bootstrap_spec(
        plan.pools[0], ADDRESSES["llama"], route_timeout_s=60, listener_port=8080, picker_tls=False
    )
    assert bootstrap == build_bootstrap(spec)


def test_two_pools_get_one_listener_a_body_router_and_an_ext_proc_each(two_pool_plan: LocalPlan, one_pool_plan: LocalPlan) -> None:
    bootstrap = build_local_bootstrap(two_pool_plan, ADDRESSES)
    assert len(bootstrap["static_resources"]["listeners"]) == 1
    names = [f["name"] for f in manager(bootstrap)["http_filters"]]
    router = names.index("inference.body_based_router")
    assert names[router + 1 : router + 3] == [ext_proc_filter_name("llama"), ext_proc_filter_name("qwen")]
    assert names[0] == "envoy.filters.http.header_mutation"  # the client's destination header goes first
    assert names[-1] == "envoy.filters.http.router"
    # Every other filter of the generator's single-pool chain is kept, in its order.
    single = build_local_bootstrap(one_pool_plan, ADDRESSES)
    generated = [f["name"] for f in manager(single)["http_filters"] if f["name"] != EXT_PROC_FILTER]
    assert [name for name in names if name in generated] == generated
    assert len(names) == len(generated) + 3
    ext_procs = {
        f["name"]: f["typed_config"]
        for f in manager(bootstrap)["http_filters"]
        if f["name"].startswith(EXT_PROC_FILTER)
    }
    by_cluster = clusters(bootstrap)
    for pool, port in (("llama", 9100), ("qwen", 9200)):
        config = ext_procs[ext_proc_filter_name(pool)]
        picker_cluster = by_cluster[config["grpc_service"]["envoy_grpc"]["cluster_name"]]
        endpoint = picker_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        assert endpoint["address"]["socket_address"]["port_value"] == port
    assert (
        ext_procs[ext_proc_filter_name("llama")]["processing_mode"]["request_body_mode"]
        == "FULL_DUPLEX_STREAMED"
    )
    assert ext_procs[ext_proc_filter_name("qwen")]["processing_mode"]["request_body_mode"] == "BUFFERED"
    assert ext_procs[ext_proc_filter_name("qwen")]["failure_mode_allow"] is True


def test_every_served_model_routes_to_its_pool_with_other_pickers_disabled(two_pool_plan: LocalPlan) -> None:
    bootstrap = build_local_bootstrap(two_pool_plan, ADDRESSES)
    by_model: dict[str, list[dict]] = {}
    for route in routes(bootstrap):
        headers = route["match"].get("headers")
        model = headers[0]["string_match"]["exact"] if headers else None
        by_model.setdefault(model, []).append(route)
        assert not headers or headers[0]["name"] == MODEL_HEADER
    assert set(by_model) == {LLAMA, "food-review-1", QWEN, None}
    for model, pool, other in (
        (LLAMA, "llama", "qwen"),
        ("food-review-1", "llama", "qwen"),
        (QWEN, "qwen", "llama"),
    ):
        picked, fallback = by_model[model]
        assert picked["route"]["cluster"] == cluster_name(PICKED_ENDPOINT_CLUSTER, pool)
        assert "dynamic_metadata" in picked["match"]
        assert set(picked["typed_per_filter_config"]) == {ext_proc_filter_name(other)}
        assert picked["typed_per_filter_config"][ext_proc_filter_name(other)]["disabled"] is True
        if pool == "qwen":  # FailOpen: unrouted requests go round-robin over the pool
            assert fallback["route"]["cluster"].endswith("/qwen")
        else:  # FailClose: unrouted requests get the generator's 503
            assert fallback["direct_response"]["status"] == 503
    # No model (GET /v1/models) or an unknown one: the default pool, last.
    assert routes(bootstrap)[-2:] == by_model[None]
    assert set(by_model[None][0]["typed_per_filter_config"]) == {ext_proc_filter_name("qwen")}


def test_cluster_names_are_unique_and_all_referenced_clusters_exist(two_pool_plan: LocalPlan) -> None:
    bootstrap = build_local_bootstrap(two_pool_plan, ADDRESSES)
    names = [cluster["name"] for cluster in bootstrap["static_resources"]["clusters"]]
    assert len(names) == len(set(names))
    for route in routes(bootstrap):
        if "route" in route:
            assert route["route"]["cluster"] in names
    rr = clusters(bootstrap)["model_servers_round_robin/qwen"]
    assert rr["load_assignment"]["cluster_name"] == "model_servers_round_robin/qwen"


def test_multi_pool_listener_buffers_long_prompts_and_keeps_timeouts(two_pool_plan: LocalPlan) -> None:
    bootstrap = build_local_bootstrap(two_pool_plan, ADDRESSES)
    listener = bootstrap["static_resources"]["listeners"][0]
    assert listener["per_connection_buffer_limit_bytes"] >= 16 * 1024 * 1024
    assert {route["route"]["timeout"] for route in routes(bootstrap) if "route" in route} == {"60.000s"}


def test_each_pool_routes_override_host_within_its_own_replicas_only(two_pool_plan: LocalPlan) -> None:
    bootstrap = build_local_bootstrap(two_pool_plan, ADDRESSES)
    by_cluster = clusters(bootstrap)
    assert PICKED_ENDPOINT_CLUSTER not in by_cluster  # no cluster shared between pools
    for pool, other in (("llama", "qwen"), ("qwen", "llama")):
        members = override_host_endpoints(by_cluster[cluster_name(PICKED_ENDPOINT_CLUSTER, pool)])
        assert members == set(ADDRESSES[pool].replicas)
        assert not members & set(ADDRESSES[other].replicas)
    # Every route to a pool's picked-endpoint cluster belongs to that pool: its own ext_proc is the one
    # left enabled, so only that pool's picker can name the destination.
    for route in routes(bootstrap):
        cluster = route.get("route", {}).get("cluster", "")
        if cluster.startswith(PICKED_ENDPOINT_CLUSTER):
            pool = cluster.rpartition("/")[2]
            enabled = {ext_proc_filter_name(p) for p in ADDRESSES} - set(route["typed_per_filter_config"])
            assert enabled == {ext_proc_filter_name(pool)}
    # FailClose (llama) has no round-robin cluster; FailOpen (qwen) round-robins over its own replica.
    assert cluster_name(ROUND_ROBIN_CLUSTER, "llama") not in by_cluster
    round_robin = by_cluster[cluster_name(ROUND_ROBIN_CLUSTER, "qwen")]
    (locality,) = round_robin["load_assignment"]["endpoints"]
    assert len(locality["lb_endpoints"]) == len(ADDRESSES["qwen"].replicas)


@pytest.mark.parametrize("plan_fixture", ["one_pool_plan", "two_pool_plan"], ids=["one-pool", "two-pools"])
def test_every_route_to_a_replica_retries_on_the_pickers_fallbacks(
    plan_fixture: str, request: pytest.FixtureRequest
) -> None:
    bootstrap = build_local_bootstrap(request.getfixturevalue(plan_fixture), ADDRESSES)
    to_replicas = [route["route"] for route in routes(bootstrap) if "route" in route]
    assert to_replicas
    for action in to_replicas:
        policy = action["retry_policy"]
        # reset: a replica killed with the request in flight; connect-failure: one already dead.
        assert set(policy["retry_on"].split(",")) >= {"connect-failure", "refused-stream", "reset"}
        assert policy["num_retries"] >= 2  # at least the picker's two fallbacks
    for cluster in clusters(bootstrap).values():
        if cluster["name"] != "endpoint_picker" and not cluster["name"].startswith("endpoint_picker/"):
            # Envoy's default of 3 concurrent retries would fail the fourth request of a dead replica.
            assert cluster["circuit_breakers"]["thresholds"][0]["max_retries"] >= 1024
    # Override-host walks the list itself: no Lua step cutting it to the primary.
    assert "envoy.filters.http.lua" not in {f["name"] for f in manager(bootstrap)["http_filters"]}


@pytest.mark.integration
@pytest.mark.parametrize("plan_fixture", ["one_pool_plan", "two_pool_plan"], ids=["one-pool", "two-pools"])
def test_envoy_accepts_the_bootstrap(plan_fixture: str, request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(plan_fixture)
    bootstrap = build_local_bootstrap(plan, ADDRESSES, picker_tls=True, access_log=True)
    assert any("load_balancing_policy" in cluster for cluster in bootstrap["static_resources"]["clusters"])
    validate_bootstrap(bootstrap)
