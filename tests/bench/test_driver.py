"""The streaming client and load shapes against a scripted in-process SSE server on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from aiohttp import web
from bench.driver.load import ClosedLoop, OpenLoop
from bench.driver.runner import LoadDriver
from bench.workloads import ChatMessage, NoSharing, PriorityMix

from tests.loopback_app import serving_on_loopback


def _chunk(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    objective = request.headers.get("x-gateway-inference-objective")
    if objective == "batch":
        return web.json_response({"error": {"message": "shed: pool saturated", "code": 429}}, status=429)
    text = body["messages"][-1]["content"]
    if not body["stream"]:
        assert "stream_options" not in body  # vLLM refuses stream_options without stream
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "tok " * 3}}],
                                  "usage": {"prompt_tokens": 11, "completion_tokens": body["max_tokens"]}},
                                 headers={"x-sim-replica": "replica-3"})
    if text.startswith("broken"):
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_chunk({"choices": [{"delta": {"content": "x"}}]}))
        return response  # no [DONE]: a truncated stream
    response = web.StreamResponse(headers={"content-type": "text/event-stream", "x-sim-replica": "replica-7"})
    await response.prepare(request)
    for _ in range(body["max_tokens"]):
        await asyncio.sleep(0.001)
        await response.write(_chunk({"choices": [{"delta": {"content": "tok "}}]}))
    await response.write(_chunk({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": body["max_tokens"],
                                                          "prompt_tokens_details": {"cached_tokens": 4}}}))
    await response.write(b"data: [DONE]\n\n")
    return response


@pytest.fixture
async def server_url():
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    async with serving_on_loopback(app) as port:
        yield f"http://127.0.0.1:{port}"


async def test_closed_loop_records_stream_timing_and_usage(server_url):
    requests = NoSharing(requests=12, prompt_words=5, max_tokens=4).generate(0)
    run = await LoadDriver(server_url, seed=0).run(requests, ClosedLoop(concurrency=3, duration_s=10))
    assert [r.index for r in run.records] == list(range(12))
    for record in run.records:
        assert record.ok, record.error
        assert record.output_tokens == 4 and record.prompt_tokens == 11 and record.cached_prompt_tokens == 4
        assert len(record.token_times_s) == 4
        assert record.ttft_s is not None and 0 < record.ttft_s <= record.e2e_s
        assert record.served_by == "replica-7"


async def test_a_non_streamed_request_is_timed_whole_with_its_usage(server_url):
    requests = [dataclasses.replace(r, stream=False) for r in NoSharing(requests=5, prompt_words=5,
                                                                          max_tokens=4).generate(0)]
    run = await LoadDriver(server_url, seed=0).run(requests, ClosedLoop(concurrency=2, duration_s=10))
    for record in run.records:
        assert record.ok, record.error
        assert record.output_tokens == 4 and record.served_by == "replica-3"
        assert record.ttft_s == record.e2e_s and len(record.token_times_s) == 1


async def test_shed_requests_are_429_with_the_server_message(server_url):
    requests = PriorityMix(requests=20, critical_prompt_words=3, sheddable_prompt_words=3, max_tokens=2).generate(1)
    run = await LoadDriver(server_url, seed=0).run(requests, ClosedLoop(concurrency=4, duration_s=10))
    shed = [r for r in run.records if r.priority_class == "sheddable"]
    assert shed and all(r.shed and r.error == "shed: pool saturated" for r in shed)
    assert all(r.ok for r in run.records if r.priority_class == "critical")


async def test_open_loop_is_bounded_by_duration_and_seeded(server_url):
    requests = NoSharing(requests=1000, prompt_words=3, max_tokens=1).generate(0)
    load = OpenLoop(rate_rps=100, duration_s=0.3, drain_timeout_s=5)
    first = await LoadDriver(server_url, seed=5).run(requests, load)
    second = await LoadDriver(server_url, seed=5).run(requests, load)
    # Seeded arrivals: the same number of requests fit in the window both times, far fewer than offered.
    assert len(first.records) == len(second.records)
    assert 5 < len(first.records) < 100


async def test_truncated_stream_and_refused_connection_become_errors(server_url):
    requests = NoSharing(requests=1, prompt_words=3, max_tokens=1).generate(0)
    broken = [dataclasses.replace(requests[0], messages=(ChatMessage("user", "broken please"),))]
    run = await LoadDriver(server_url, seed=0).run(broken, ClosedLoop(concurrency=1, duration_s=5))
    assert run.records[0].error.startswith("truncated stream")
    refused = await LoadDriver("http://127.0.0.1:9", seed=0, request_timeout_s=2).run(
        requests, ClosedLoop(concurrency=1, duration_s=5))
    assert refused.records[0].status == 0 and refused.records[0].error.startswith("connection")
