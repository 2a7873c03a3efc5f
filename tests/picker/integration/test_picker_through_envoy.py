"""End to end through real Envoy (FULL_DUPLEX_STREAMED ext_proc, ORIGINAL_DST on the destination header),
the real picker process and tiny model servers that answer with their identity. One gateway serves the
whole module: upstreams a and b are the picker's pool, c is outside it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json

import pytest
import pytest_asyncio
from gateway_harness import start_gateway

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CONTROL_HEADERS = (
    "x-gateway-inference-objective",
    "x-gateway-model-name-rewrite",
    "x-gateway-inference-fairness-id",
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_gateway(tmp_path_factory):
    async with contextlib.AsyncExitStack() as cleanup:
        yield await start_gateway(
            tmp_path_factory.mktemp("gateway"),
            cleanup,
            ("a", "b", "c"),
            picker_endpoints=("a", "b"),
            objectives={"batch": -1, "interactive": 10},
        )


@pytest.fixture
def gw(shared_gateway):
    """The shared gateway with every upstream idle again, as each test expects to start."""
    for upstream in shared_gateway.upstreams.values():
        upstream.waiting, upstream.kv_usage = 0, 0.0
    assert shared_gateway.picker.child.running
    return shared_gateway


async def until_lands_on(gateway, name: str, attempts: int = 100) -> None:
    """Send requests until one lands on ``name``: the picker has scraped the metrics the test just set."""
    for attempt in range(attempts):
        status, body = await gateway.complete(f"probe-{attempt}")
        assert status == 200, body
        if body["served_by"] == name:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no request landed on {name} after {attempts} attempts")


async def test_requests_land_on_the_replica_the_metrics_predict(gw):
    a, b = gw.upstreams["a"], gw.upstreams["b"]
    a.waiting, a.kv_usage, b.waiting, b.kv_usage = 0, 0.1, 3, 0.7
    await until_lands_on(gw, "a")
    landed = [(await gw.complete(f"request-{i}"))[1]["served_by"] for i in range(10)]
    assert landed == ["a"] * 10

    a.waiting, a.kv_usage, b.waiting, b.kv_usage = 4, 0.75, 0, 0.0  # the load moves to a
    await until_lands_on(gw, "b")
    landed = [(await gw.complete(f"later-{i}"))[1]["served_by"] for i in range(10)]
    assert landed == ["b"] * 10

    forwarded = b.received[-1]["headers"]
    assert forwarded["x-gateway-destination-endpoint"] == b.hostport
    assert forwarded["x-request-id"]
    assert gw.picker.child.running


async def test_a_client_chosen_destination_is_never_obeyed(gw):
    outsider = gw.upstreams["c"]
    for i in range(6):
        status, body = await gw.complete(f"x{i}", **{"x-gateway-destination-endpoint": outsider.hostport})
        assert status == 200
        assert body["served_by"] in ("a", "b")
    assert outsider.received == []


async def test_model_rewrite_and_control_headers_are_consumed_by_the_picker(gw):
    headers = dict(zip(CONTROL_HEADERS, ("premium", "adapter-7", "tenant-1"), strict=True))
    status, body = await gw.complete("hi", **headers)
    assert (status, body["model"]) == (200, "adapter-7")
    received = gw.upstreams[body["served_by"]].received[-1]
    assert received["body"]["model"] == "adapter-7"
    assert not {name.lower() for name in received["headers"]} & set(CONTROL_HEADERS)


async def test_a_body_over_62_kb_arrives_byte_for_byte(gw):
    raw = json.dumps({"model": "m", "prompt": "lorem ipsum " * 30_000}).encode()  # ~360 KB
    status, body = await gw.post("/v1/completions", raw)
    assert status == 200
    assert (body["received_bytes"], body["received_sha256"]) == (len(raw), hashlib.sha256(raw).hexdigest())


async def test_streamed_sse_passes_through_and_the_picker_records_usage(gw):
    async with gw.session.post(
        gw.url + "/v1/completions", json={"model": "sse-model", "prompt": "s", "stream": True}
    ) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = await response.text()
    assert text.endswith("data: [DONE]\n\n") and '"served_by":' in text
    async with asyncio.timeout(5):
        while True:
            async with gw.session.get(f"http://127.0.0.1:{gw.picker.metrics_port}/metrics") as response:
                metrics = await response.text()
            if (
                'inference_objective_input_tokens_sum{model_name="sse-model",target_model_name="sse-model"} 5.0'
                in metrics
            ):
                break
            await asyncio.sleep(0.05)
    assert (
        'inference_objective_request_total{model_name="sse-model",target_model_name="sse-model"} 1.0'
        in metrics
    )


async def test_get_without_a_body_is_routed_to_a_replica(gw):
    async with gw.session.get(gw.url + "/v1/models") as response:
        assert response.status == 200
        assert (await response.json())["served_by"] in ("a", "b")


@pytest.mark.parametrize(
    ("raw", "message_part"),
    [(b"{not json", "not valid JSON"), (b'{"prompt": "no model"}', "model not found")],
    ids=["malformed JSON", "missing model"],
)
async def test_bad_bodies_get_400_and_the_picker_keeps_serving(gw, raw, message_part):
    status, body = await gw.post("/v1/completions", raw)
    assert status == 400
    assert message_part in body["error"]["message"] and body["error"]["type"] == "invalid_request_error"
    assert (await gw.complete("next"))[0] == 200


async def test_sheddable_request_is_shed_with_429_under_saturation_and_others_still_served(gw):
    for upstream in gw.upstreams.values():
        upstream.waiting = 9  # over the default queue-depth threshold (5) everywhere
    async with asyncio.timeout(5):
        while True:
            status, body = await gw.complete("bulk", **{"x-gateway-inference-objective": "batch"})
            if status == 429:
                break
            assert status == 200
            await asyncio.sleep(0.02)
    assert body["error"]["type"] == "rate_limit_error"
    assert "saturated" in body["error"]["message"]
    status, _ = await gw.complete("chat", **{"x-gateway-inference-objective": "interactive"})
    assert status == 200  # priority >= 0 is never shed by saturation
    for upstream in gw.upstreams.values():
        upstream.waiting = 0
    async with asyncio.timeout(5):
        while (await gw.complete("bulk", **{"x-gateway-inference-objective": "batch"}))[0] != 200:
            await asyncio.sleep(0.02)
    assert gw.picker.child.running


async def test_sse_events_reach_the_client_while_the_stream_is_still_open(gw):
    gate = asyncio.Event()
    for upstream in gw.upstreams.values():
        upstream.sse_gate = gate
    try:
        async with gw.session.post(
            gw.url + "/v1/completions", json={"model": "m", "prompt": "live", "stream": True}
        ) as response:
            # The upstream holds the rest of the stream until this first event has arrived here:
            # if the picker (or Envoy) buffered SSE, this read would never complete.
            first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
            assert b'"served_by"' in first
            gate.set()
            rest = await response.read()
        assert rest.endswith(b"data: [DONE]\n\n")
    finally:
        for upstream in gw.upstreams.values():
            upstream.sse_gate = None
