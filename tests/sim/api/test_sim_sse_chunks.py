"""The per-token SSE fast path writes exactly what the general chunk builder writes."""

from __future__ import annotations

import json

import pytest
from sim.api.generation import GenerationRoutes, _Prompt
from sim.api.schemas import ChatCompletionRequest, CompletionRequest
from sim.runtime import SimulatorRuntime

from sim import SimConfig


@pytest.mark.parametrize("kind", ["completion", "chat"])
@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("finish_reason", [None, "length"])
def test_token_chunk_matches_the_general_builder(
    kind: str, include_usage: bool, finish_reason: str | None
) -> None:
    routes = GenerationRoutes(SimulatorRuntime(SimConfig.build(profile="zero-latency"), "r"))
    body_type = ChatCompletionRequest if kind == "chat" else CompletionRequest
    extra = {"messages": [{"role": "user", "content": "x"}]} if kind == "chat" else {"prompt": "x"}
    body = body_type.model_validate(
        {"model": 'quote"model', "stream": True, "stream_options": {"include_usage": include_usage}} | extra
    )
    job = routes._job(kind, "id", body, 'quote"model', None, [_Prompt((1, 2, 3), "x")], echo=False)
    usage = {"prompt_tokens": 3, "total_tokens": 4, "completion_tokens": 1} if include_usage else None
    text = 'a "quoted" piece\n'
    stop_reason = "\n" if finish_reason else None
    fast = routes._token_chunk(job, 3, text, finish_reason, usage, stop_reason)
    general = routes._sse(job, 3, text, finish_reason, usage, stop_reason)
    assert fast.endswith(b"\n\n") and fast.startswith(b"data: ")
    assert json.loads(fast[6:]) == json.loads(general[6:])
