"""The cross-region tier's Envoy bootstrap: Google's cross-regional internal load balancer, locally.

Per region of the Gateway a client listener (the region's gateway address). A request's client region is
that listener's, or the ``x-infgw-client-region`` header's. Per client region two clusters over every
region's model-server endpoints, ordered by priority:

- ``nearest/<client>``: priority 0 = the client's region, then the other regions in the Gateway's order;
- ``spill/<client>``: the other regions first, the client's own last.

Two routes per client region pick one of them: ``nearest`` matches with the runtime fraction
``tier.<client>.local_share`` (per cent), ``spill`` takes the rest. The utilization controller
sets those fractions through the admin runtime (capacity spill-over); Envoy's own active health checks
and priority failover move traffic off a region whose endpoints all fail (health-based failover).

Each endpoint stands for one model server: Envoy health-checks the replica (the HealthCheckPolicy's
path, interval, timeout, thresholds) while requests go to the region's entry, its Envoy with the picker,
which chooses the replica, as the cluster's InferencePool does. Requests to another region pass its hop
listener, which adds the inter-region delay (Envoy's fault filter) before the region's entry.

A health check reaches its replica through a probe listener (one per model server) of a second Envoy,
the probes (:func:`build_probe_bootstrap`), which passes it on while the runtime key
``tier.<region>.health_checks`` is 100 (per cent) and answers 503 when it is 0: a region's health checks
fail while its replicas and picker keep running, as when GKE's probers are cut off (a firewall rule, the
health-check path) without the pods dying. The probes run in their own Envoy, started first, because an
Envoy binds its listeners only after its clusters' first health-check round: probes inside the tier
would fail that round and hold every endpoint down for ``healthyThreshold`` more checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from infgw.envoy.bootstrap import ENVOY_TYPE_URL, TYPE_KEY, envoy_duration, socket_address
from infgw.local.regions.tier_config import TierConfig

CLIENT_REGION_HEADER = "x-infgw-client-region"
SERVED_REGION_HEADER = "x-infgw-served-region"
METADATA_NAMESPACE = "infgw"
# Per cent: Envoy reads an integer runtime value as a percentage whatever the default's denominator, and
# any integer above 100 as "always" (Runtime::SnapshotImpl::featureEnabled), so shares go in whole per cent.
SHARE_DENOMINATOR = 100
# Any healthy endpoint keeps its priority's whole share: the load balancer fails a region over only when
# none of its endpoints is healthy (Envoy's default, 140%, would move load off a partly healthy region).
OVERPROVISIONING_PERCENT = 100_000


def share_key(client_region: str) -> str:
    return f"tier.{client_region}.local_share"


def health_key(region: str) -> str:
    """Runtime key, per cent: the share of ``region``'s health checks that reach its model servers."""
    return f"tier.{region}.health_checks"


def nearest_cluster(client_region: str) -> str:
    return f"nearest/{client_region}"


def spill_cluster(client_region: str) -> str:
    return f"spill/{client_region}"


class RegionAddresses(BaseModel):
    """Where one region's gateway and model servers listen, and the tier's own ports for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    entry_port: int = Field(description="The region's Envoy (its picker chooses the replica).")
    health_targets: tuple[str, ...] = Field(description="Each model server's health-check ip:port.")
    probe_ports: tuple[int, ...] = Field(
        description="Per health target, the tier's listener its health checks pass (the fault switch)."
    )
    client_port: int = Field(description="The tier's listener for clients in this region; 0 = free.")
    hop_port: int = Field(description="The tier's listener adding the inter-region delay into this region.")

    @model_validator(mode="after")
    def _one_probe_per_target(self) -> RegionAddresses:
        if len(self.probe_ports) != len(self.health_targets):
            raise ValueError(
                f"region {self.region}: {len(self.probe_ports)} probe port(s) for "
                f"{len(self.health_targets)} health target(s); give one probe port per target"
            )
        return self


class TierBootstrapSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: TierConfig
    regions: tuple[RegionAddresses, ...]  # in the tier's region order
    inter_region_delay_s: float = Field(0.0, ge=0)
    access_log_path: Path
    connect_timeout_s: float = 1.0


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def _endpoints(
    spec: TierBootstrapSpec, region: RegionAddresses, client: str, priority: int
) -> dict[str, Any]:
    local = region.region == client
    port = region.entry_port if local else region.hop_port
    lb_endpoints = []
    for target, probe_port in zip(region.health_targets, region.probe_ports, strict=True):
        lb_endpoints.append(
            {
                "endpoint": {
                    "address": socket_address("127.0.0.1", port),
                    # Host: the model server's ip:port, as a prober checking the pod sends it (the
                    # default, the cluster's name, has a "/" Envoy refuses in a Host header).
                    "health_check_config": {
                        "address": socket_address("127.0.0.1", probe_port),
                        "hostname": target,
                    },
                },
                "metadata": {"filter_metadata": {METADATA_NAMESPACE: {"region": region.region}}},
            }
        )
    return {"priority": priority, "locality": {"region": region.region}, "lb_endpoints": lb_endpoints}


def _balanced_cluster(
    spec: TierBootstrapSpec, name: str, client: str, order: list[RegionAddresses]
) -> dict[str, Any]:
    check = spec.tier.health_check
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": envoy_duration(spec.connect_timeout_s),
        "lb_policy": "ROUND_ROBIN",
        # No panic routing: with no healthy endpoint anywhere the load balancer answers 503, as Google's
        # does, rather than Envoy's default of spreading over every endpoint regardless of health.
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [_endpoints(spec, region, client, index) for index, region in enumerate(order)],
            "policy": {"overprovisioning_factor": OVERPROVISIONING_PERCENT},
        },
        "health_checks": [
            {
                "timeout": envoy_duration(check.timeout_s),
                "interval": envoy_duration(check.interval_s),
                "no_traffic_interval": envoy_duration(check.interval_s),
                "unhealthy_interval": envoy_duration(check.interval_s),
                "interval_jitter": "0s",
                "unhealthy_threshold": check.unhealthy_threshold,
                "healthy_threshold": check.healthy_threshold,
                # Google counts every failed check towards unhealthyThreshold; Envoy marks a host down
                # at once on a status outside expected_statuses unless it is "retriable".
                "http_health_check": {"path": check.path, "retriable_statuses": [{"start": 100, "end": 600}]},
            }
        ],
        # Envoy's default circuit breakers cap a cluster at 1,024 requests; LLM requests are long.
        "circuit_breakers": {"thresholds": [{"max_requests": 100_000, "max_pending_requests": 100_000}]},
    }


def _entry_cluster(spec: TierBootstrapSpec, region: RegionAddresses) -> dict[str, Any]:
    name = f"region/{region.region}"
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": envoy_duration(spec.connect_timeout_s),
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": socket_address("127.0.0.1", region.entry_port)}}]}
            ],
        },
        "circuit_breakers": {"thresholds": [{"max_requests": 100_000, "max_pending_requests": 100_000}]},
    }


def _route(
    spec: TierBootstrapSpec, cluster: str, client: str, *, header: bool, share: bool
) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": "/"}
    if header:
        match["headers"] = [{"name": CLIENT_REGION_HEADER, "string_match": {"exact": client}}]
    if share:
        match["runtime_fraction"] = {
            "default_value": {"numerator": SHARE_DENOMINATOR, "denominator": "HUNDRED"},
            "runtime_key": share_key(client),
        }
    return {
        "name": cluster,
        "match": match,
        "route": {"cluster": cluster, "timeout": envoy_duration(spec.tier.timeout_s)},
        "request_headers_to_add": [
            {
                "header": {"key": CLIENT_REGION_HEADER, "value": client},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
        "response_headers_to_add": [
            {
                "header": {
                    "key": SERVED_REGION_HEADER,
                    "value": f"%UPSTREAM_METADATA({METADATA_NAMESPACE}:region)%",
                },
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            },
            {
                "header": {"key": CLIENT_REGION_HEADER, "value": client},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            },
        ],
    }


def _client_routes(spec: TierBootstrapSpec, own: str) -> list[dict[str, Any]]:
    """A client-region header picks that region's routes; without one, the listener's region applies."""
    routes: list[dict[str, Any]] = []
    for client, header in [*((r.region, True) for r in spec.regions), (own, False)]:
        routes += [
            _route(spec, nearest_cluster(client), client, header=header, share=True),
            _route(spec, spill_cluster(client), client, header=header, share=False),
        ]
    return routes


_ACCESS_LOG_FORMAT = {
    "route": "%ROUTE_NAME%",
    "served_region": "%RESP(" + SERVED_REGION_HEADER + ")%",
    "status": "%RESPONSE_CODE%",
    "flags": "%RESPONSE_FLAGS%",
    "duration_ms": "%DURATION%",
}


def _manager(
    stat_prefix: str, routes: list[dict[str, Any]], filters: list[dict[str, Any]], log: Path | None
) -> dict[str, Any]:
    manager: dict[str, Any] = {
        TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "codec_type": "AUTO",
        "route_config": {
            "name": stat_prefix,
            "virtual_hosts": [{"name": "tier", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [
            *filters,
            {
                "name": "envoy.filters.http.router",
                "typed_config": {TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.router.v3.Router"},
            },
        ],
    }
    if log is not None:
        manager["access_log"] = [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    TYPE_KEY: ENVOY_TYPE_URL + "extensions.access_loggers.file.v3.FileAccessLog",
                    "path": str(log),
                    "log_format": {"json_format": _ACCESS_LOG_FORMAT},
                },
            }
        ]
    return manager


def _listener(name: str, port: int, manager: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": socket_address("127.0.0.1", port),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }


def _delay_filter(delay_s: float) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.fault",
        "typed_config": {
            TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.fault.v3.HTTPFault",
            "delay": {
                "fixed_delay": envoy_duration(delay_s),
                "percentage": {"numerator": 100, "denominator": "HUNDRED"},
            },
        },
    }


def probe_name(region: str, index: int) -> str:
    return f"probe/{region}/{index}"


def _probe(
    spec: TierBootstrapSpec, region: RegionAddresses, index: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The listener (and its cluster) that passes health checks to one model server while the region's
    health checks are up, and fails them with 503 while they are down."""
    name = probe_name(region.region, index)
    host, port = _host_port(region.health_targets[index])
    timeout = envoy_duration(spec.tier.health_check.timeout_s)
    routes = [
        {
            "name": name,
            "match": {
                "prefix": "/",
                "runtime_fraction": {
                    "default_value": {"numerator": SHARE_DENOMINATOR, "denominator": "HUNDRED"},
                    "runtime_key": health_key(region.region),
                },
            },
            "route": {"cluster": name, "timeout": timeout},
        },
        {
            "name": f"{name}/down",
            "match": {"prefix": "/"},
            "direct_response": {
                "status": 503,
                "body": {"inline_string": f"health checks of {region.region} are down (infgw region up)"},
            },
        },
    ]
    cluster = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": envoy_duration(spec.connect_timeout_s),
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(host, port)}}]}],
        },
    }
    listener = _listener(name, region.probe_ports[index], _manager(name.replace("/", "_"), routes, [], None))
    return listener, cluster


def client_listener_name(region: str) -> str:
    return f"client/{region}"


def build_tier_bootstrap(
    spec: TierBootstrapSpec, initial_shares: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The tier's bootstrap; ``initial_shares`` (per cent, default all local) seed the runtime."""
    listeners = []
    clusters = []
    for region in spec.regions:
        own = region.region
        listeners.append(
            _listener(
                client_listener_name(own),
                region.client_port,
                _manager(f"client_{own}", _client_routes(spec, own), [], spec.access_log_path),
            )
        )
        hop_route = {
            "name": f"hop/{own}",
            "match": {"prefix": "/"},
            "route": {"cluster": f"region/{own}", "timeout": envoy_duration(spec.tier.timeout_s)},
        }
        filters = [_delay_filter(spec.inter_region_delay_s)] if spec.inter_region_delay_s > 0 else []
        listeners.append(
            _listener(f"hop/{own}", region.hop_port, _manager(f"hop_{own}", [hop_route], filters, None))
        )
        others = [r for r in spec.regions if r.region != own]
        region_here = [region]
        clusters += [
            _balanced_cluster(spec, nearest_cluster(own), own, region_here + others),
            _balanced_cluster(spec, spill_cluster(own), own, others + region_here),
            _entry_cluster(spec, region),
        ]
    runtime = {share_key(r.region): SHARE_DENOMINATOR for r in spec.regions}
    runtime.update({share_key(region): value for region, value in (initial_shares or {}).items()})
    return _bootstrap(runtime, listeners, clusters)


def build_probe_bootstrap(spec: TierBootstrapSpec) -> dict[str, Any]:
    """The probes' bootstrap: every region's health checks pass (runtime ``tier.<region>.health_checks``
    100) until the admin runtime sets a region's key to 0."""
    listeners = []
    clusters = []
    for region in spec.regions:
        for index in range(len(region.probe_ports)):
            probe_listener, probe_cluster = _probe(spec, region, index)
            listeners.append(probe_listener)
            clusters.append(probe_cluster)
    runtime = {health_key(r.region): SHARE_DENOMINATOR for r in spec.regions}
    return _bootstrap(runtime, listeners, clusters)


def _bootstrap(
    runtime: dict[str, int], listeners: list[dict[str, Any]], clusters: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "admin": {"address": socket_address("127.0.0.1", 0)},
        "layered_runtime": {
            "layers": [
                {"name": "static", "static_layer": runtime},
                {"name": "admin", "admin_layer": {}},
            ]
        },
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }
