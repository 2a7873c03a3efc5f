"""Gateway configurations end to end, each with its own Envoy and picker process: an empty pool, BUFFERED
body mode, FailOpen when the picker stops, FailClose when it is unreachable."""

from __future__ import annotations

import hashlib
import json
import socket

import pytest

pytestmark = pytest.mark.integration


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_empty_pool_gets_503_and_the_picker_keeps_serving(gateway):
    gw = await gateway(("a",), picker_endpoints=())
    for _ in range(2):
        status, body = await gw.complete("anyone?")
        assert status == 503
        assert body["error"]["type"] == "service_unavailable_error"
    assert gw.picker.child.running


async def test_buffered_body_mode_routes_rewrites_and_rejects_like_full_duplex(gateway):
    gw = await gateway(
        ("a", "b"), picker_connection={"request_body_mode": "BUFFERED", "response_body_mode": "BUFFERED"}
    )
    status, body = await gw.complete("hi", **{"x-gateway-model-name-rewrite": "adapter-2"})
    assert (status, body["model"]) == (200, "adapter-2")
    raw = json.dumps({"model": "m", "prompt": "z" * 150_000}).encode()
    status, body = await gw.post("/v1/completions", raw)
    assert (status, body["received_sha256"]) == (200, hashlib.sha256(raw).hexdigest())
    assert (await gw.post("/v1/completions", b"[]"))[0] == 400


async def test_fail_open_falls_back_to_round_robin_when_the_picker_stops(gateway):
    # FailOpen needs BUFFERED request bodies in Envoy 1.40 (EnvoyBootstrapSpec refuses the other mode).
    gw = await gateway(
        ("a", "b"),
        picker_connection={"failure_mode_allow": True, "request_body_mode": "BUFFERED", "health_check": True},
        fallback_pool=True,
    )
    assert (await gw.complete("before"))[0] == 200
    assert await gw.picker.child.stop() == 0  # SIGTERM: graceful shutdown exits cleanly
    landed = set()
    for i in range(6):
        status, body = await gw.complete(f"after-{i}", **{"x-gateway-destination-endpoint": "127.0.0.1:1"})
        assert status == 200, body  # served by Envoy's own balancing, the client's header ignored
        landed.add(body["served_by"])
    assert landed == {"a", "b"}


async def test_fail_close_rejects_when_the_picker_is_unreachable(gateway):
    gw = await gateway(("a",), with_picker=False, picker_connection={"port": unused_port(), "tls": False})
    status, _ = await gw.complete("nobody to ask")
    assert status == 503  # the bootstrap's status_on_error; Envoy's own default would be 500
    assert gw.upstreams["a"].received == []


TWO_ENDPOINT_CONFIG = """
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: max-score-picker
  parameters: {maxNumOfEndpoints: 2}
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
  - pluginRef: max-score-picker
"""


async def test_with_fallback_endpoints_the_primary_serves(gateway):
    gw = await gateway(("a", "b"), picker_args=("--config-text", TWO_ENDPOINT_CONFIG))
    gw.upstreams["b"].waiting = 3  # a scores higher: a is primary, b the fallback
    for i in range(40):
        status, body = await gw.complete(f"x{i}")
        assert status == 200, body
        if body["served_by"] == "a":
            break
    received = gw.upstreams["a"].received[-1]["headers"]
    assert received["x-gateway-destination-endpoint"] == gw.upstreams["a"].hostport  # the list's first entry


async def test_a_subset_hint_from_the_data_plane_restricts_the_candidates(gateway):
    gw = await gateway(("a", "b"), subset_hint=["b"])
    gw.upstreams["b"].waiting = 4  # b is the busier one, yet the only one allowed
    landed = {(await gw.complete(f"hint-{i}"))[1]["served_by"] for i in range(8)}
    assert landed == {"b"}


async def test_an_empty_subset_hint_is_a_503(gateway):
    gw = await gateway(("a", "b"), subset_hint=[])
    status, body = await gw.complete("nobody allowed")
    assert status == 503
    assert "subset hint" in body["error"]["message"]


async def test_override_host_routing_walks_the_fallbacks_when_the_primary_fails(gateway):
    gw = await gateway(
        ("a", "b"),
        picker_args=("--config-text", TWO_ENDPOINT_CONFIG),
        fallback_pool=True,
        spec_options={
            "destination_routing": "OVERRIDE_HOST",
            "retry_on": ("connect-failure", "refused-stream", "reset"),
        },
    )
    a, b = gw.upstreams["a"], gw.upstreams["b"]
    b.waiting = 3  # the picker ranks a first, b second
    a.resets_completions = True  # ... but a drops every completion
    for i in range(40):
        status, body = await gw.complete(f"walk-{i}")
        assert (status, body["served_by"]) == (200, "b"), body  # a retry reaches the fallback
        if b.received[-1]["headers"]["x-gateway-destination-endpoint"] == f"{a.hostport},{b.hostport}":
            break
    # The picker answered "a,b": the request was first sent to a, reset, then retried on b.
    assert b.received[-1]["headers"]["x-gateway-destination-endpoint"] == f"{a.hostport},{b.hostport}"
    assert (
        gw.envoy.stats("cluster.picked_endpoint.upstream_rq_retry").get(
            "cluster.picked_endpoint.upstream_rq_retry", 0
        )
        >= 1
    )


async def test_route_only_mode_routes_and_rejects_without_response_phases(gateway):
    gw = await gateway(
        ("a", "b"), picker_connection={"response_headers": False, "response_body_mode": "NONE"}
    )
    landed = set()
    for i in range(10):
        status, body = await gw.complete(f"route-only-{i}")
        assert status == 200
        landed.add(body["served_by"])
    assert landed <= {"a", "b"}
    assert (await gw.post("/v1/completions", b"{oops"))[0] == 400
    stats = gw.envoy.stats("http.inference_gateway.ext_proc.stream_msgs")
    # headers + body (+ Envoy's empty end-of-stream chunk): nothing about the response is sent.
    assert stats["http.inference_gateway.ext_proc.stream_msgs_sent"] <= 3 * 11


@pytest.mark.parametrize("policy", ["fcfs", "priority"])
async def test_engine_priority_reaches_the_model_server_only_on_a_priority_pool(gateway, policy):
    gw = await gateway(
        ("a",),
        objectives={"interactive": 10, "batch": -1},
        picker_args=("--model-server-scheduling-policy", policy),
    )
    sent = []
    for path, shape in (("/v1/completions", {"prompt": "hi"}), ("/v1/chat/completions",
                        {"messages": [{"role": "user", "content": "hi"}]})):  # fmt: skip
        for stream in (False, True):
            for objective in ("interactive", "batch", None):
                body = {"model": "m", "max_tokens": 1, "stream": stream, **shape}
                headers = {"x-gateway-inference-objective": objective} if objective else {}
                status, answer = await gw.post(path, body, **headers)
                assert status == 200, answer
                sent.append((objective, json.dumps(body).encode()))
    received = gw.upstreams["a"].received
    assert len(received) == len(sent)
    for (objective, raw), got in zip(sent, received, strict=True):
        if policy == "fcfs" or objective is None:
            assert got["sha256"] == hashlib.sha256(raw).hexdigest()  # the client's bytes, no priority field
        else:
            assert got["body"]["priority"] == {"interactive": -10, "batch": 1}[objective]
