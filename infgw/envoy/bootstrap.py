"""Build an Envoy v3 bootstrap (a plain dict, dumpable as YAML or JSON) from an EnvoyBootstrapSpec.

The shape follows the Inference Extension's reference Envoy: ext_proc in FULL_DUPLEX_STREAMED mode and
a cluster that connects to the ``ip:port`` the picker writes into ``x-gateway-destination-endpoint``:
ORIGINAL_DST (the reference, primary only) or override-host over the pool (primary, then each fallback
on retry; what the local gateway uses).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import yaml

from infgw.envoy.spec import DestinationRouting, EnvoyBootstrapSpec, PickerConnection

DESTINATION_HEADER = "x-gateway-destination-endpoint"
DESTINATION_METADATA_NAMESPACE = "envoy.lb"
EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"

EXT_PROC_FILTER = "envoy.filters.http.ext_proc"
PICKER_CLUSTER = "endpoint_picker"
PICKED_ENDPOINT_CLUSTER = "picked_endpoint"  # the destination header: ORIGINAL_DST or override-host
ROUND_ROBIN_CLUSTER = "model_servers_round_robin"

# A typed_config's type key, and the type URL prefix of Envoy's own protos.
TYPE_KEY = "@type"
ENVOY_TYPE_URL = "type.googleapis.com/envoy."


def envoy_duration(seconds: float) -> str:
    """A protobuf Duration as Envoy's YAML spells it (``1.500s``)."""
    return f"{seconds:.3f}s"


def socket_address(host: str, port: int) -> dict[str, Any]:
    """An Envoy ``core.v3.Address`` for ``host:port`` over TCP."""
    return {"socket_address": {"address": host, "port_value": port}}


def _picker_cluster(picker: PickerConnection) -> dict[str, Any]:
    endpoints = [
        {"endpoint": {"address": socket_address(picker.host, port)}}
        for port in (picker.port, *picker.standby_ports)
    ]
    http2_options: dict[str, Any] = {}
    if picker.max_streams_per_connection is not None:
        http2_options["max_concurrent_streams"] = picker.max_streams_per_connection
    cluster: dict[str, Any] = {
        "name": PICKER_CLUSTER,
        "type": "STATIC",
        # Envoy's default: under overload new TLS handshakes wait behind a busy picker, and a 1 s limit
        # failed the requests queued on those connections with 503.
        "connect_timeout": "5s",
        "lb_policy": "ROUND_ROBIN",
        # ext_proc is gRPC: the cluster must speak HTTP/2.
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                TYPE_KEY: ENVOY_TYPE_URL + "extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": http2_options},
            }
        },
        "load_assignment": {
            "cluster_name": PICKER_CLUSTER,
            "endpoints": [{"lb_endpoints": endpoints}],
        },
    }
    if picker.tls:
        # No validation_context: the picker's certificate is self-signed, as with the EPP.
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                TYPE_KEY: ENVOY_TYPE_URL + "extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "common_tls_context": {"alpn_protocols": ["h2"]},
            },
        }
    if picker.health_check:
        # On the ext_proc port itself, so the check rides the same (TLS) transport as the traffic.
        cluster["health_checks"] = [
            {
                "timeout": "1s",
                "interval": "2s",
                # Envoy's default is 60 s while the cluster has carried no traffic: a picker not yet up
                # when Envoy started would stay failed (and a follower could never be found healthy).
                "no_traffic_interval": "2s",
                "unhealthy_threshold": 1,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": EXT_PROC_SERVICE},
            }
        ]
    return cluster


# Envoy's default circuit breaker allows 3 concurrent retries per cluster. When a replica dies under load,
# every request in flight to it retries at the same moment, and those past the third fail with a 503
# instead of moving to the picker's next endpoint; the reliability suite lost requests exactly that way.
_MAX_CONCURRENT_RETRIES = 1024


def _model_server_circuit_breakers() -> dict[str, Any]:
    return {"thresholds": [{"max_retries": _MAX_CONCURRENT_RETRIES}]}


def _picked_endpoint_cluster(spec: EnvoyBootstrapSpec) -> dict[str, Any]:
    return {
        "name": PICKED_ENDPOINT_CLUSTER,
        "type": "ORIGINAL_DST",
        "lb_policy": "CLUSTER_PROVIDED",
        "connect_timeout": envoy_duration(spec.connect_timeout_s),
        "circuit_breakers": _model_server_circuit_breakers(),
        "original_dst_lb_config": {"use_http_header": True, "http_header_name": DESTINATION_HEADER},
    }


def _typed_policy(name: str, config_type: str, **config: Any) -> dict[str, Any]:
    return {"typed_extension_config": {"name": name, "typed_config": {TYPE_KEY: ENVOY_TYPE_URL + config_type, **config}}}


def _override_host_cluster(spec: EnvoyBootstrapSpec) -> dict[str, Any]:
    """The pool, balanced by the override-host policy: the picker's list in order (first try, then each
    retry), from ``envoy.lb`` metadata or the header; round-robin only if the list names no pool member."""
    lb_endpoints = [
        {"endpoint": {"address": socket_address(host, port)}} for host, port in spec.endpoint_addresses()
    ]
    override_host = _typed_policy(
        "envoy.load_balancing_policies.override_host",
        "extensions.load_balancing_policies.override_host.v3.OverrideHost",
        override_host_sources=[
            {"metadata": {"key": DESTINATION_METADATA_NAMESPACE, "path": [{"key": DESTINATION_HEADER}]}},
            {"header": DESTINATION_HEADER},
        ],
        fallback_policy={
            "policies": [
                _typed_policy(
                    "envoy.load_balancing_policies.round_robin",
                    "extensions.load_balancing_policies.round_robin.v3.RoundRobin",
                )
            ]
        },
    )
    return {
        "name": PICKED_ENDPOINT_CLUSTER,
        "type": "STATIC",
        "connect_timeout": envoy_duration(spec.connect_timeout_s),
        "circuit_breakers": _model_server_circuit_breakers(),
        "load_assignment": {
            "cluster_name": PICKED_ENDPOINT_CLUSTER,
            "endpoints": [{"lb_endpoints": lb_endpoints}],
        },
        "load_balancing_policy": {"policies": [override_host]},
    }


def _round_robin_cluster(spec: EnvoyBootstrapSpec) -> dict[str, Any]:
    lb_endpoints = [
        {"endpoint": {"address": socket_address(host, port)}} for host, port in spec.endpoint_addresses()
    ]
    return {
        "name": ROUND_ROBIN_CLUSTER,
        "type": "STATIC",
        "lb_policy": "ROUND_ROBIN",
        "connect_timeout": envoy_duration(spec.connect_timeout_s),
        "circuit_breakers": _model_server_circuit_breakers(),
        "load_assignment": {
            "cluster_name": ROUND_ROBIN_CLUSTER,
            "endpoints": [{"lb_endpoints": lb_endpoints}],
        },
    }


def _route_action(spec: EnvoyBootstrapSpec, cluster: str) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "timeout": envoy_duration(spec.route_timeout_s),
        "retry_policy": {"retry_on": ",".join(spec.retry_on), "num_retries": spec.num_retries},
    }


def _routes(spec: EnvoyBootstrapSpec) -> list[dict[str, Any]]:
    if spec.picker is None:
        return [{"match": {"prefix": "/"}, "route": _route_action(spec, ROUND_ROBIN_CLUSTER)}]
    # Requests the picker routed carry its dynamic metadata, which a client cannot forge; only those
    # take the picked-endpoint cluster. Everything else (FailOpen, picker down) takes the fallback.
    picked = {
        "match": {
            "prefix": "/",
            "dynamic_metadata": [
                {
                    "filter": DESTINATION_METADATA_NAMESPACE,
                    "path": [{"key": DESTINATION_HEADER}],
                    "value": {"present_match": True},
                }
            ],
        },
        "route": _route_action(spec, PICKED_ENDPOINT_CLUSTER),
    }
    if spec.routes_unpicked_round_robin:
        fallback: dict[str, Any] = {
            "match": {"prefix": "/"},
            "route": _route_action(spec, ROUND_ROBIN_CLUSTER),
        }
    else:
        fallback = {
            "match": {"prefix": "/"},
            "direct_response": {
                "status": 503,
                "body": {
                    "inline_string": '{"error":{"message":"inference gateway: the endpoint picker did not '
                    'route this request and no fallback pool is configured","type":'
                    '"service_unavailable_error","param":null,"code":503}}'
                },
            },
        }
    return [picked, fallback]


def _status_code_name(status: int) -> str:
    """Envoy's ``type.v3.StatusCode`` enum name for an HTTP status (``503`` -> ``ServiceUnavailable``):
    the reason phrase without spaces, which is how Envoy spells its enum."""
    return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")


def _ext_proc_filter(picker: PickerConnection) -> dict[str, Any]:
    return {
        "name": EXT_PROC_FILTER,
        "typed_config": {
            TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.ext_proc.v3.ExternalProcessor",
            "grpc_service": {
                "envoy_grpc": {"cluster_name": PICKER_CLUSTER},
                "timeout": envoy_duration(picker.grpc_timeout_s),
            },
            "failure_mode_allow": picker.failure_mode_allow,
            "status_on_error": {"code": _status_code_name(picker.status_on_error)},
            "message_timeout": envoy_duration(picker.message_timeout_s),
            "processing_mode": {
                "request_header_mode": "SEND",
                "response_header_mode": "SEND" if picker.response_headers else "SKIP",
                "request_body_mode": picker.request_body_mode.value,
                "response_body_mode": picker.response_body_mode.value,
                # FULL_DUPLEX_STREAMED requires trailers SEND; without response phases there are none.
                "request_trailer_mode": "SEND",
                "response_trailer_mode": "SEND" if picker.response_headers else "SKIP",
            },
            "metadata_options": {
                # The data plane's subset hint (and any served-endpoint report) reach the picker ...
                "forwarding_namespaces": {
                    "untyped": ["envoy.lb.subset_hint", DESTINATION_METADATA_NAMESPACE]
                },
                # ... and the picker's envoy.lb answer becomes request metadata (Envoy drops it otherwise).
                "receiving_namespaces": {"untyped": [DESTINATION_METADATA_NAMESPACE]},
            },
        },
    }


def _strip_client_destination_filter() -> dict[str, Any]:
    # A client must never choose its own replica: drop the header before anything reads it.
    return {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {"request_mutations": [{"remove": DESTINATION_HEADER}]},
        },
    }


# Keeps the primary of "ip:port,ip:port,...": the only form ORIGINAL_DST can connect to.
_PRIMARY_DESTINATION_LUA = f"""
function envoy_on_request(handle)
  local destination = handle:headers():get("{DESTINATION_HEADER}")
  if destination ~= nil then
    local primary = string.match(destination, "^[^,]+")
    if primary ~= destination then
      handle:headers():replace("{DESTINATION_HEADER}", primary)
    end
  end
end
"""


def _primary_destination_filter() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.lua",
        "typed_config": {
            TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": _PRIMARY_DESTINATION_LUA},
        },
    }


# The timing log's fields (EnvoyBootstrapSpec.timing_log), microseconds; "-" (or absent) where a stage did
# not happen. Envoy writes file access logs in batches (its --file-flush-interval-msec and
# --file-flush-min-size-kb): read the file once a batch is out. Envoy's stream timeline: DS = downstream (client), US = upstream (model server), RX/TX =
# received/sent, BEG/END = first/last byte. ``ext_proc`` is the filter's ExtProcLoggingInfo: the time Envoy
# waited for each phase's answer (request_header_latency_us covers the body too when the picker holds its
# headers answer until the body is in, as it does in FULL_DUPLEX_STREAMED).
TIMING_LOG_FIELDS = {
    "total_us": "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%",
    "request_phases_us": "%COMMON_DURATION(DS_RX_END:US_TX_BEG:us)%",
    "upstream_us": "%COMMON_DURATION(US_TX_BEG:US_RX_BEG:us)%",
    "response_headers_us": "%COMMON_DURATION(US_RX_BEG:DS_TX_BEG:us)%",
    "response_body_us": "%COMMON_DURATION(US_RX_END:DS_TX_END:us)%",
    "ext_proc": "%FILTER_STATE(envoy.filters.http.ext_proc:TYPED)%",
    "response_content_type": "%RESP(CONTENT-TYPE)%",  # tells streamed (text/event-stream) answers apart
}


def _http_connection_manager(spec: EnvoyBootstrapSpec) -> dict[str, Any]:
    http_filters: list[dict[str, Any]] = [_strip_client_destination_filter()]
    if spec.picker is not None:
        http_filters.append(_ext_proc_filter(spec.picker))
        # Override-host walks the whole list itself; ORIGINAL_DST can only use its first entry.
        if (
            spec.picker.primary_destination_only
            and spec.destination_routing is DestinationRouting.ORIGINAL_DST
        ):
            http_filters.append(_primary_destination_filter())
    http_filters.append(
        {
            "name": "envoy.filters.http.router",
            "typed_config": {TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.router.v3.Router"},
        }
    )
    manager: dict[str, Any] = {
        TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "inference_gateway",
        "codec_type": "AUTO",
        "route_config": {
            "name": "inference_routes",
            "virtual_hosts": [{"name": "inference", "domains": ["*"], "routes": _routes(spec)}],
        },
        "http_filters": http_filters,
    }
    access_logs: list[dict[str, Any]] = []
    if spec.access_log:
        access_logs.append(
            {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {TYPE_KEY: ENVOY_TYPE_URL + "extensions.access_loggers.stream.v3.StdoutAccessLog"},
            }
        )
    if spec.timing_log is not None:
        access_logs.append(
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    TYPE_KEY: ENVOY_TYPE_URL + "extensions.access_loggers.file.v3.FileAccessLog",
                    "path": str(spec.timing_log),
                    "log_format": {"json_format": TIMING_LOG_FIELDS},
                },
            }
        )
    if access_logs:
        manager["access_log"] = access_logs
    return manager


def build_bootstrap(spec: EnvoyBootstrapSpec) -> dict[str, Any]:
    """The full bootstrap. Admin listens on 127.0.0.1:0; read its port from ``--admin-address-path``."""
    listener: dict[str, Any] = {
        "name": "inference_gateway",
        "address": socket_address(spec.listener_host, spec.listener_port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": _http_connection_manager(spec),
                    }
                ]
            }
        ],
    }
    if spec.buffer_limit_bytes is not None:
        listener["per_connection_buffer_limit_bytes"] = spec.buffer_limit_bytes
    clusters: list[dict[str, Any]] = []
    if spec.picker is not None:
        picked = (
            _override_host_cluster(spec)
            if spec.destination_routing is DestinationRouting.OVERRIDE_HOST
            else _picked_endpoint_cluster(spec)
        )
        clusters += [_picker_cluster(spec.picker), picked]
    if spec.routes_unpicked_round_robin:
        clusters.append(_round_robin_cluster(spec))
    return {
        "admin": {"address": socket_address("127.0.0.1", 0)},
        "static_resources": {"listeners": [listener], "clusters": clusters},
    }


def render_yaml(spec: EnvoyBootstrapSpec) -> str:
    return yaml.safe_dump(build_bootstrap(spec), sort_keys=False)
