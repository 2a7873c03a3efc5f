"""The tier's Envoy bootstrap: accepted by Envoy, regions ordered by priority per client region, the
rendered health check on every model server (through a probe listener a runtime key fails), the
inter-region delay on cross-region hops only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from infgw.envoy import validate_bootstrap
from infgw.local.regions.tier_bootstrap import (
    RegionAddresses,
    TierBootstrapSpec,
    build_probe_bootstrap,
    build_tier_bootstrap,
    health_key,
    nearest_cluster,
    probe_name,
    spill_cluster,
)
from infgw.local.regions.tier_config import BalancingMode, HealthCheck, TierConfig

WEST, EAST = "europe-west3", "us-east4"
TIER = TierConfig(
    gateway="g",
    pool="p",
    regions=(WEST, EAST),
    balancing_mode=BalancingMode.CUSTOM_METRICS,
    max_utilization=0.6,
    timeout_s=100,
    health_check=HealthCheck(path="/health", port=8000, interval_s=3, timeout_s=2, unhealthy_threshold=4),
)


def _spec(delay_s: float) -> TierBootstrapSpec:
    return TierBootstrapSpec(
        tier=TIER,
        regions=(
            RegionAddresses(
                region=WEST,
                entry_port=7001,
                health_targets=("127.0.0.1:8001", "127.0.0.1:8002"),
                probe_ports=(9201, 9202),
                client_port=9001,
                hop_port=9101,
            ),
            RegionAddresses(
                region=EAST,
                entry_port=7002,
                health_targets=("127.0.0.1:8003",),
                probe_ports=(9203,),
                client_port=9002,
                hop_port=9102,
            ),
        ),
        inter_region_delay_s=delay_s,
        access_log_path=Path(os.devnull),  # Envoy opens it when validating
    )


def _cluster(bootstrap: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == name)


def _ports_by_priority(cluster: dict[str, Any]) -> list[tuple[int, set[int]]]:
    return [
        (
            group["priority"],
            {e["endpoint"]["address"]["socket_address"]["port_value"] for e in group["lb_endpoints"]},
        )
        for group in cluster["load_assignment"]["endpoints"]
    ]


@pytest.mark.integration
def test_envoy_accepts_the_tier() -> None:
    validate_bootstrap(build_tier_bootstrap(_spec(0.05)))


def test_nearest_prefers_the_clients_region_and_spill_the_others() -> None:
    bootstrap = build_tier_bootstrap(_spec(0.0))
    # Own region: its entry (the region's Envoy); another region: the tier's hop listener into it.
    assert _ports_by_priority(_cluster(bootstrap, nearest_cluster(WEST))) == [(0, {7001}), (1, {9102})]
    assert _ports_by_priority(_cluster(bootstrap, spill_cluster(WEST))) == [(0, {9102}), (1, {7001})]
    assert _ports_by_priority(_cluster(bootstrap, nearest_cluster(EAST))) == [(0, {7002}), (1, {9101})]


def test_each_model_server_is_health_checked_as_rendered() -> None:
    cluster = _cluster(build_tier_bootstrap(_spec(0.0)), nearest_cluster(WEST))
    check = cluster["health_checks"][0]
    assert (check["interval"], check["timeout"], check["unhealthy_threshold"]) == ("3.000s", "2.000s", 4)
    assert check["http_health_check"]["path"] == "/health"
    # Any answer but 200 counts towards the threshold (Envoy would fail a host on one 503).
    assert check["http_health_check"]["retriable_statuses"] == [{"start": 100, "end": 600}]
    probes = [
        e["endpoint"]["health_check_config"]["address"]["socket_address"]["port_value"]
        for group in cluster["load_assignment"]["endpoints"]
        for e in group["lb_endpoints"]
    ]
    assert probes == [9201, 9202, 9203]
    assert cluster["common_lb_config"]["healthy_panic_threshold"]["value"] == 0


def _listener(bootstrap: dict[str, Any], name: str) -> dict[str, Any]:
    return next(x for x in bootstrap["static_resources"]["listeners"] if x["name"] == name)


@pytest.mark.integration
def test_envoy_accepts_the_probes() -> None:
    validate_bootstrap(build_probe_bootstrap(_spec(0.0)))


def test_a_probe_passes_checks_to_its_model_server_while_the_regions_health_key_allows() -> None:
    bootstrap = build_probe_bootstrap(_spec(0.0))
    listener = _listener(bootstrap, probe_name(WEST, 1))
    assert listener["address"]["socket_address"]["port_value"] == 9202
    routes = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0][
        "routes"
    ]
    passing, failing = routes
    assert passing["match"]["runtime_fraction"]["runtime_key"] == health_key(WEST)
    target = _cluster(bootstrap, passing["route"]["cluster"])
    endpoint = target["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"]["port_value"] == 8002
    assert failing["direct_response"]["status"] == 503
    assert bootstrap["layered_runtime"]["layers"][0]["static_layer"][health_key(EAST)] == 100


def test_one_probe_port_per_health_target_or_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"1 probe port.* for 2 health target"):
        RegionAddresses(
            region=WEST,
            entry_port=1,
            health_targets=("127.0.0.1:8001", "127.0.0.1:8002"),
            probe_ports=(9201,),
            client_port=2,
            hop_port=3,
        )


def test_the_inter_region_delay_is_on_hop_listeners_only() -> None:
    def fault_filters(bootstrap: dict[str, Any], prefix: str) -> int:
        return sum(
            f["name"] == "envoy.filters.http.fault"
            for listener in bootstrap["static_resources"]["listeners"]
            if listener["name"].startswith(prefix)
            for f in listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
        )

    delayed = build_tier_bootstrap(_spec(0.05))
    assert (fault_filters(delayed, "hop/"), fault_filters(delayed, "client/")) == (2, 0)
    assert fault_filters(build_tier_bootstrap(_spec(0.0)), "hop/") == 0


def test_routes_time_out_at_the_policys_timeout_and_start_all_local() -> None:
    bootstrap = build_tier_bootstrap(_spec(0.0))
    routes = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"
    ]["virtual_hosts"][0]["routes"]
    assert {route["route"]["timeout"] for route in routes} == {"100.000s"}
    assert bootstrap["layered_runtime"]["layers"][0]["static_layer"] == {
        f"tier.{WEST}.local_share": 100,
        f"tier.{EAST}.local_share": 100,
    }
