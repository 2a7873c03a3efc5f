"""The multi-cluster guide's sample request per pool, its curl line, and how an answer is judged."""

from __future__ import annotations

import json
import shlex

import aiohttp
import pytest
from aiohttp import web
from local_gateway_stacks import LLAMA, QWEN

from components.specs.sample_request import SEED_PROMPT
from infgw.local.plan import LocalPlan
from infgw.local.sample_requests import SampleRequest, curl_command, sample_requests, send_sample
from tests.loopback_app import serving_on_loopback


def test_completion_and_chat_per_pool_with_seed_000s_prompt(two_pool_plan: LocalPlan) -> None:
    requests = sample_requests(two_pool_plan)
    assert [(r.pool, r.path, r.body["model"]) for r in requests] == [
        ("llama", "/v1/completions", "food-review-1"),
        ("llama", "/v1/chat/completions", LLAMA),
        ("qwen", "/v1/completions", QWEN),
        ("qwen", "/v1/chat/completions", QWEN),
    ]
    first = requests[0].body
    assert first == {"model": "food-review-1", "prompt": SEED_PROMPT, "max_tokens": 100, "temperature": 0}


def test_curl_line_is_runnable_shell(two_pool_plan: LocalPlan) -> None:
    request = sample_requests(two_pool_plan)[0]
    line = curl_command("http://127.0.0.1:8080", request)
    words = shlex.split(line)
    assert words[:5] == ["curl", "-i", "-X", "POST", "http://127.0.0.1:8080/v1/completions"]
    assert json.loads(words[-1]) == request.body


@pytest.fixture
async def fake_gateway():
    """Answers like a replica, or with an error, depending on the model asked."""

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        if body["model"] == "broken":
            return web.json_response({"error": {"message": "no healthy upstream", "code": 503}}, status=503)
        if body["model"] == "liar":
            return web.json_response({"model": "other", "choices": [{"text": "x"}]})
        return web.json_response(
            {"model": body["model"], "choices": [{"text": "pizza"}]}, headers={"x-sim-replica": "r-0"}
        )

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    async with serving_on_loopback(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("good", None),
        ("broken", "HTTP 503: no healthy upstream"),
        ("liar", "answered by model 'other', asked 'liar'"),
    ],
)
async def test_answers_are_judged(fake_gateway: str, model: str, problem: str | None) -> None:
    request = SampleRequest(
        pool="p", path="/v1/completions", body={"model": model, "prompt": "p", "max_tokens": 1}
    )
    async with aiohttp.ClientSession() as session:
        result = await send_sample(session, fake_gateway, request)
    assert result.problem == problem
    assert result.ok is (problem is None)
    if result.ok:
        assert (result.text, result.replica) == ("pizza", "r-0")
