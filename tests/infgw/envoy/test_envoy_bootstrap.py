"""infgw.envoy: bootstrap generation from typed inputs, checked structurally and by Envoy itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from infgw.envoy import (
    BodyMode,
    EnvoyBootstrapSpec,
    EnvoyError,
    PickerConnection,
    build_bootstrap,
    render_yaml,
    validate_bootstrap,
)

POOL = ("10.0.0.1:8000", "10.0.0.2:8000")


def clusters(bootstrap):
    return {cluster["name"]: cluster for cluster in bootstrap["static_resources"]["clusters"]}


def manager(bootstrap):
    listener = bootstrap["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def filters(bootstrap):
    return {f["name"]: f["typed_config"] for f in manager(bootstrap)["http_filters"]}


def routes(bootstrap):
    return manager(bootstrap)["route_config"]["virtual_hosts"][0]["routes"]


def test_picker_gateway_uses_full_duplex_ext_proc_and_original_dst_on_the_header():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection(port=9002)))
    ext_proc = filters(bootstrap)["envoy.filters.http.ext_proc"]
    assert ext_proc["processing_mode"] == {
        "request_header_mode": "SEND",
        "response_header_mode": "SEND",
        "request_body_mode": "FULL_DUPLEX_STREAMED",
        "response_body_mode": "FULL_DUPLEX_STREAMED",
        "request_trailer_mode": "SEND",
        "response_trailer_mode": "SEND",
    }
    assert ext_proc["failure_mode_allow"] is False
    assert ext_proc["grpc_service"]["envoy_grpc"]["cluster_name"] == "endpoint_picker"
    picked = clusters(bootstrap)["picked_endpoint"]
    assert (picked["type"], picked["lb_policy"]) == ("ORIGINAL_DST", "CLUSTER_PROVIDED")
    assert picked["original_dst_lb_config"] == {
        "use_http_header": True,
        "http_header_name": "x-gateway-destination-endpoint",
    }
    assert bootstrap["admin"]["address"]["socket_address"]["port_value"] == 0


def test_filter_order_strips_the_client_destination_before_ext_proc_and_router_last():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection()))
    assert list(filters(bootstrap)) == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.ext_proc",
        "envoy.filters.http.lua",
        "envoy.filters.http.router",
    ]
    lua = filters(bootstrap)["envoy.filters.http.lua"]["default_source_code"]["inline_string"]
    assert 'get("x-gateway-destination-endpoint")' in lua


def test_the_destination_list_can_be_left_alone():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection(primary_destination_only=False)))
    assert "envoy.filters.http.lua" not in filters(bootstrap)
    mutation = filters(bootstrap)["envoy.filters.http.header_mutation"]
    assert mutation["mutations"]["request_mutations"] == [{"remove": "x-gateway-destination-endpoint"}]


def test_picker_cluster_speaks_http2_with_unverified_tls_and_health_checks_the_ext_proc_service():
    bootstrap = build_bootstrap(
        EnvoyBootstrapSpec(picker=PickerConnection(host="10.1.0.5", port=9002, health_check=True))
    )
    picker = clusters(bootstrap)["endpoint_picker"]
    options = picker["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"]
    tls = picker["transport_socket"]["typed_config"]
    assert "validation_context" not in tls["common_tls_context"]
    assert picker["health_checks"][0]["grpc_health_check"] == {
        "service_name": "envoy.service.ext_proc.v3.ExternalProcessor"
    }
    endpoint = picker["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "10.1.0.5", "port_value": 9002}


def test_plaintext_picker_has_no_transport_socket():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection(tls=False)))
    assert "transport_socket" not in clusters(bootstrap)["endpoint_picker"]


def test_fail_open_routes_unpicked_requests_round_robin_and_picked_ones_by_metadata():
    spec = EnvoyBootstrapSpec(
        picker=PickerConnection(failure_mode_allow=True, request_body_mode=BodyMode.BUFFERED), endpoints=POOL
    )
    bootstrap = build_bootstrap(spec)
    assert filters(bootstrap)["envoy.filters.http.ext_proc"]["failure_mode_allow"] is True
    picked_route, fallback_route = routes(bootstrap)
    assert picked_route["route"]["cluster"] == "picked_endpoint"
    assert picked_route["match"]["dynamic_metadata"][0]["filter"] == "envoy.lb"
    assert fallback_route["route"]["cluster"] == "model_servers_round_robin"
    round_robin = clusters(bootstrap)["model_servers_round_robin"]
    addresses = [
        e["endpoint"]["address"]["socket_address"]
        for e in round_robin["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert addresses == [
        {"address": "10.0.0.1", "port_value": 8000},
        {"address": "10.0.0.2", "port_value": 8000},
    ]


def test_without_a_fallback_pool_unpicked_requests_get_an_openai_style_503():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection()))
    fallback = routes(bootstrap)[1]["direct_response"]
    assert fallback["status"] == 503
    assert json.loads(fallback["body"]["inline_string"])["error"]["code"] == 503


def test_fail_close_override_host_knows_the_pool_but_answers_unpicked_requests_503():
    spec = EnvoyBootstrapSpec(
        picker=PickerConnection(),
        endpoints=POOL,
        destination_routing="OVERRIDE_HOST",
        round_robin_fallback=False,
    )
    bootstrap = build_bootstrap(spec)
    assert set(clusters(bootstrap)) == {"endpoint_picker", "picked_endpoint"}
    picked_route, fallback_route = routes(bootstrap)
    assert picked_route["route"]["cluster"] == "picked_endpoint"
    assert fallback_route["direct_response"]["status"] == 503
    members = clusters(bootstrap)["picked_endpoint"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert len(members) == len(POOL)


def test_no_round_robin_fallback_without_a_picker_is_refused():
    with pytest.raises(ValidationError, match="leaves nothing to route to"):
        EnvoyBootstrapSpec(endpoints=POOL, round_robin_fallback=False)


def test_baseline_is_round_robin_only():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(endpoints=POOL, num_retries=3))
    assert "envoy.filters.http.ext_proc" not in filters(bootstrap)
    assert set(clusters(bootstrap)) == {"model_servers_round_robin"}
    (route,) = routes(bootstrap)
    assert route["route"]["retry_policy"] == {"retry_on": "connect-failure,refused-stream", "num_retries": 3}


def test_buffered_mode_and_buffer_limit():
    spec = EnvoyBootstrapSpec(
        picker=PickerConnection(request_body_mode=BodyMode.BUFFERED, response_body_mode=BodyMode.BUFFERED),
        buffer_limit_bytes=8 << 20,
    )
    bootstrap = build_bootstrap(spec)
    mode = filters(bootstrap)["envoy.filters.http.ext_proc"]["processing_mode"]
    assert (mode["request_body_mode"], mode["response_body_mode"]) == ("BUFFERED", "BUFFERED")
    assert bootstrap["static_resources"]["listeners"][0]["per_connection_buffer_limit_bytes"] == 8 << 20


def test_lean_responses_skip_the_response_body():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection(response_body_mode=BodyMode.NONE)))
    mode = filters(bootstrap)["envoy.filters.http.ext_proc"]["processing_mode"]
    assert (mode["response_header_mode"], mode["response_body_mode"]) == ("SEND", "NONE")


def test_the_timing_log_writes_envoys_stages_and_the_ext_proc_phases_as_json_lines(tmp_path):
    spec = EnvoyBootstrapSpec(
        picker=PickerConnection(), timing_log=tmp_path / "timing.jsonl", access_log=True
    )
    loggers = manager(build_bootstrap(spec))["access_log"]
    assert [logger["name"] for logger in loggers] == [
        "envoy.access_loggers.stdout",
        "envoy.access_loggers.file",
    ]
    timing = loggers[1]["typed_config"]
    assert timing["path"] == str(tmp_path / "timing.jsonl")
    fields = timing["log_format"]["json_format"]
    assert fields["ext_proc"] == "%FILTER_STATE(envoy.filters.http.ext_proc:TYPED)%"
    assert fields["upstream_us"] == "%COMMON_DURATION(US_TX_BEG:US_RX_BEG:us)%"
    assert "access_log" not in manager(build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection())))


def test_yaml_rendering_round_trips():
    import yaml

    spec = EnvoyBootstrapSpec(picker=PickerConnection(), endpoints=POOL)
    assert yaml.safe_load(render_yaml(spec)) == build_bootstrap(spec)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "set 'picker'"),
        ({"endpoints": ("10.0.0.1",)}, "is not host:port"),
        ({"endpoints": ("model-server:8000",)}, "must be an IP address"),
        ({"endpoints": ("10.0.0.1:70000",)}, "port must be 1-65535"),
        ({"picker": {"port": 0}}, "greater than or equal to 1"),
        ({"picker": {"request_body_mode": "STREAMED"}}, "FULL_DUPLEX_STREAMED"),
        ({"endpoints": POOL, "listen_port": 1}, "Extra inputs are not permitted"),
    ],
    ids=[
        "nothing to route to",
        "no port",
        "hostname",
        "port range",
        "picker port",
        "unsupported mode",
        "typo key",
    ],
)
def test_bad_specs_fail_before_anything_starts(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        EnvoyBootstrapSpec(**kwargs)


@pytest.mark.integration
@pytest.mark.parametrize(
    "spec",
    [
        EnvoyBootstrapSpec(endpoints=POOL),
        EnvoyBootstrapSpec(
            picker=PickerConnection(
                health_check=True, failure_mode_allow=True, request_body_mode=BodyMode.BUFFERED
            ),
            endpoints=POOL,
        ),
        EnvoyBootstrapSpec(
            picker=PickerConnection(tls=False, request_body_mode=BodyMode.BUFFERED),
            buffer_limit_bytes=1 << 20,
            access_log=True,
        ),
        EnvoyBootstrapSpec(picker=PickerConnection(), timing_log=Path(os.devnull)),
    ],
    ids=["round robin", "picker fail-open with health checks", "picker buffered plaintext", "timing log"],
)
def test_envoy_accepts_the_generated_bootstraps(spec):
    validate_bootstrap(build_bootstrap(spec))


@pytest.mark.integration
def test_envoy_rejects_a_broken_bootstrap_with_its_reason():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(endpoints=POOL))
    bootstrap["static_resources"]["clusters"][0]["lb_policy"] = "NOT_A_POLICY"
    with pytest.raises(EnvoyError, match="NOT_A_POLICY"):
        validate_bootstrap(bootstrap)


def test_override_host_routing_balances_the_pool_by_the_pickers_list_and_needs_no_lua():
    spec = EnvoyBootstrapSpec(picker=PickerConnection(), endpoints=POOL, destination_routing="OVERRIDE_HOST")
    bootstrap = build_bootstrap(spec)
    picked = clusters(bootstrap)["picked_endpoint"]
    assert picked["type"] == "STATIC"
    policy = picked["load_balancing_policy"]["policies"][0]["typed_extension_config"]
    assert policy["name"] == "envoy.load_balancing_policies.override_host"
    assert policy["typed_config"]["override_host_sources"] == [
        {"metadata": {"key": "envoy.lb", "path": [{"key": "x-gateway-destination-endpoint"}]}},
        {"header": "x-gateway-destination-endpoint"},
    ]
    assert "envoy.filters.http.lua" not in filters(bootstrap)


@pytest.mark.parametrize("routing", ["ORIGINAL_DST", "OVERRIDE_HOST"])
def test_model_server_clusters_allow_many_concurrent_retries(routing):
    # Envoy's default is 3: a replica dying under load would turn the fourth concurrent retry into a 503.
    spec = EnvoyBootstrapSpec(picker=PickerConnection(), endpoints=POOL, destination_routing=routing)
    by_name = clusters(build_bootstrap(spec))
    for name in ("picked_endpoint", "model_servers_round_robin"):
        (thresholds,) = by_name[name]["circuit_breakers"]["thresholds"]
        assert thresholds["max_retries"] >= 1024, name


def test_retry_conditions_are_configurable_and_checked():
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(endpoints=POOL, retry_on=("connect-failure", "reset")))
    assert routes(bootstrap)[0]["route"]["retry_policy"]["retry_on"] == "connect-failure,reset"
    with pytest.raises(ValidationError, match="unknown retry condition"):
        EnvoyBootstrapSpec(endpoints=POOL, retry_on=("connect-failures",))


def test_override_host_without_the_pool_is_refused():
    with pytest.raises(ValidationError, match="OVERRIDE_HOST balances over a known pool"):
        EnvoyBootstrapSpec(picker=PickerConnection(), destination_routing="OVERRIDE_HOST")


@pytest.mark.integration
@pytest.mark.parametrize("round_robin_fallback", [True, False], ids=["fail-open", "fail-close"])
def test_envoy_accepts_the_override_host_bootstrap(round_robin_fallback):
    spec = EnvoyBootstrapSpec(
        picker=PickerConnection(),
        endpoints=POOL,
        destination_routing="OVERRIDE_HOST",
        retry_on=("connect-failure", "refused-stream", "reset"),
        round_robin_fallback=round_robin_fallback,
    )
    validate_bootstrap(build_bootstrap(spec))


def test_route_only_skips_every_response_phase():
    picker = PickerConnection(response_headers=False, response_body_mode=BodyMode.NONE)
    mode = filters(build_bootstrap(EnvoyBootstrapSpec(picker=picker)))["envoy.filters.http.ext_proc"][
        "processing_mode"
    ]
    assert (mode["response_header_mode"], mode["response_body_mode"], mode["response_trailer_mode"]) == (
        "SKIP",
        "NONE",
        "SKIP",
    )


def test_route_only_needs_no_response_body():
    with pytest.raises(ValidationError, match="needs response_body_mode NONE"):
        PickerConnection(response_headers=False)


@pytest.mark.integration
def test_envoy_accepts_route_only():
    picker = PickerConnection(response_headers=False, response_body_mode=BodyMode.NONE)
    validate_bootstrap(build_bootstrap(EnvoyBootstrapSpec(picker=picker)))


@pytest.mark.parametrize(("status", "name"), [(503, "ServiceUnavailable"), (500, "InternalServerError")])
def test_fail_close_status_is_configurable(status, name):
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection(status_on_error=status)))
    assert filters(bootstrap)["envoy.filters.http.ext_proc"]["status_on_error"] == {"code": name}


def test_an_unknown_fail_close_status_is_refused():
    with pytest.raises(ValidationError, match="not an HTTP status"):
        PickerConnection(status_on_error=499)
