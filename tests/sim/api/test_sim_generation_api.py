"""/v1/completions and /v1/chat/completions against a real server on 127.0.0.1:0."""

from __future__ import annotations

import json

import aiohttp
import pytest
from sim.api.app import REPLICA_HEADER

SEED_REQUEST = {
    "model": "food-review-1",
    "prompt": "What is the best pizza in the world?",
    "max_tokens": 100,
    "temperature": 0,
}


async def read_sse(response: aiohttp.ClientResponse) -> list[dict | str]:
    events: list[dict | str] = []
    async for raw_line in response.content:
        line = raw_line.decode().strip()
        if not line:
            continue
        assert line.startswith("data: "), line
        data = line.removeprefix("data: ")
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


async def test_seed_sample_request(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(name="replica-a", lora_modules=[{"name": "food-review-1"}])
    async with http.post(f"{sim.url}/v1/completions", json=SEED_REQUEST) as response:
        assert response.status == 200
        assert response.headers[REPLICA_HEADER] == "replica-a"
        body = await response.json()
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    assert body["model"] == "food-review-1"
    [choice] = body["choices"]
    assert choice["finish_reason"] in ("length", "stop") and choice["text"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == 11
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 1 <= usage["completion_tokens"] <= 100


async def test_temperature_zero_is_repeatable(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(lora_modules=[{"name": "food-review-1"}])
    texts = []
    for _ in range(2):
        request = SEED_REQUEST | {"ignore_eos": True, "max_tokens": 20}
        async with http.post(f"{sim.url}/v1/completions", json=request) as response:
            texts.append((await response.json())["choices"][0]["text"])
    assert texts[0] == texts[1]


async def test_ignore_eos_generates_exactly_max_tokens(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": "hello", "max_tokens": 37, "ignore_eos": True}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        body = await response.json()
    assert body["usage"]["completion_tokens"] == 37
    assert body["choices"][0]["finish_reason"] == "length"


async def test_completion_streaming_with_usage(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {
        "prompt": "hello there",
        "max_tokens": 8,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = await read_sse(response)
    assert events[-1] == "[DONE]"
    chunks, usage_chunk = events[:-2], events[-2]
    assert len(chunks) == 8
    assert all(chunk["object"] == "text_completion" and chunk["usage"] is None for chunk in chunks)
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None] * 7 + ["length"]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 8
    assert usage_chunk["usage"]["prompt_tokens"] == 4  # "hel" "lo" " the" "re"


async def test_streaming_without_usage_option_sends_no_usage(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": "hi", "max_tokens": 3, "ignore_eos": True, "stream": True}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        events = await read_sse(response)
    assert len(events) == 4 and events[-1] == "[DONE]"
    assert all("usage" not in event for event in events[:-1])


async def test_chat_completion(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],
        "max_completion_tokens": 12,
        "ignore_eos": True,
    }
    async with http.post(f"{sim.url}/v1/chat/completions", json=request) as response:
        assert response.status == 200
        body = await response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"]
    assert body["usage"]["completion_tokens"] == 12


async def test_chat_streaming(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi!"}]}],
        "max_tokens": 5,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http.post(f"{sim.url}/v1/chat/completions", json=request) as response:
        events = await read_sse(response)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [event["choices"][0]["delta"]["content"] for event in events[1:6]]
    assert all(content) and events[5]["choices"][0]["finish_reason"] == "length"
    assert events[6]["usage"]["completion_tokens"] == 5 and events[7] == "[DONE]"
    assert {event["object"] for event in events[:-1]} == {"chat.completion.chunk"}


async def test_echo_mode_repeats_the_prompt(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(mode="echo")
    request = {"prompt": "say this back", "max_tokens": 5, "ignore_eos": True}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        assert (await response.json())["choices"][0]["text"] == "say this back"


async def test_token_id_prompt(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    async with http.post(f"{sim.url}/tokenize", json={"prompt": "pizza time"}) as response:
        tokens = (await response.json())["tokens"]
    async with http.post(f"{sim.url}/v1/completions", json={"prompt": tokens, "max_tokens": 2}) as response:
        assert (await response.json())["usage"]["prompt_tokens"] == len(tokens)


async def test_repeated_prompt_reports_cached_tokens(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": "You are a careful assistant. " * 40, "max_tokens": 2}
    cached = []
    for _ in range(2):
        async with http.post(f"{sim.url}/v1/completions", json=request) as response:
            cached.append((await response.json())["usage"]["prompt_tokens_details"]["cached_tokens"])
    assert cached[0] == 0 and cached[1] > 0 and cached[1] % 16 == 0


async def test_chunked_request_body_is_accepted(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    payload = json.dumps({"prompt": "sent in pieces", "max_tokens": 2}).encode()

    async def body():
        for start in range(0, len(payload), 7):
            yield payload[start : start + 7]

    headers = {"Content-Type": "application/json"}
    async with http.post(f"{sim.url}/v1/completions", data=body(), headers=headers) as response:
        assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert response.status == 200
        assert (await response.json())["usage"]["prompt_tokens"] == 4


async def test_replicas_in_one_process_are_independent(start_sim, http: aiohttp.ClientSession) -> None:
    first, second = await start_sim(name="r1"), await start_sim(name="r2")
    assert first.port != second.port
    for sim, name in ((first, "r1"), (second, "r2")):
        async with http.get(f"{sim.url}/health") as response:
            assert response.headers[REPLICA_HEADER] == name
            assert (await response.json())["replica"] == name


async def test_stop_ends_in_flight_streams_within_the_grace_period(
    start_sim, http: aiohttp.ClientSession
) -> None:
    import asyncio
    import time

    sim = await start_sim(
        profile="h100-llama3.1-8b", faults={"slowdown_factor": 50.0}, shutdown_timeout_s=0.2
    )
    request = {"prompt": "a long answer", "max_tokens": 1000, "ignore_eos": True, "stream": True}
    response = await http.post(f"{sim.url}/v1/completions", json=request)
    assert response.status == 200
    started = time.monotonic()
    await asyncio.wait_for(sim.stop(), timeout=10)
    assert time.monotonic() - started < 5
    response.close()


async def test_stop_string_ends_the_answer_before_it(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": "x", "max_tokens": 500, "ignore_eos": True, "seed": 4, "stop": [" pizza", "zzz"]}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        choice = (await response.json())["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == " pizza"
    assert " pizza" not in choice["text"]
    async with http.post(f"{sim.url}/v1/completions", json=request | {"stream": True}) as response:
        events = await read_sse(response)
    streamed = "".join(event["choices"][0]["text"] for event in events[:-1])
    assert streamed == choice["text"]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-2]["choices"][0]["stop_reason"] == " pizza"


async def test_stop_string_that_never_appears(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": "x", "max_tokens": 300, "ignore_eos": True, "stop": "never-in-the-passage"}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        body = await response.json()
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 300


async def test_echo_prepends_the_prompt(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": "Once upon a time", "max_tokens": 3, "echo": True, "seed": 1}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        echoed = (await response.json())["choices"][0]["text"]
    async with http.post(f"{sim.url}/v1/completions", json=request | {"echo": False}) as response:
        plain = (await response.json())["choices"][0]["text"]
    assert echoed == "Once upon a time" + plain
    async with http.post(f"{sim.url}/v1/completions", json=request | {"stream": True}) as response:
        events = await read_sse(response)
    assert events[0]["choices"][0]["text"] == "Once upon a time"


async def test_several_prompts_and_samples(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": ["first prompt", "the second prompt"], "n": 2, "max_tokens": 5, "ignore_eos": True}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        body = await response.json()
    assert [choice["index"] for choice in body["choices"]] == [0, 1, 2, 3]  # prompt_index * n + sample
    assert all(choice["finish_reason"] == "length" for choice in body["choices"])
    usage = body["usage"]
    assert usage["prompt_tokens"] == 4 + 5  # each prompt counted once, whatever n is
    assert usage["completion_tokens"] == 4 * 5


async def test_n_samples_streamed_by_index(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {
        "messages": [{"role": "user", "content": "Hi"}],
        "n": 3,
        "max_tokens": 4,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http.post(f"{sim.url}/v1/chat/completions", json=request) as response:
        events = await read_sse(response)
    assert events[-1] == "[DONE]"
    usage = events[-2]["usage"]
    assert usage["completion_tokens"] == 12
    per_index: dict[int, list[dict]] = {}
    for event in events[:-2]:
        [choice] = event["choices"]
        per_index.setdefault(choice["index"], []).append(choice)
    assert sorted(per_index) == [0, 1, 2]
    for chunks in per_index.values():
        assert chunks[0]["delta"] == {"role": "assistant", "content": ""}
        assert len(chunks) == 1 + 4 and chunks[-1]["finish_reason"] == "length"


@pytest.mark.parametrize(("path", "prompt"), [
    ("/v1/completions", {"prompt": "Hi!"}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi!"}]}),
])  # fmt: skip
@pytest.mark.parametrize("priority", [-3, 0, 7])
async def test_priority_server_takes_any_priority(
    start_sim, http: aiohttp.ClientSession, path: str, prompt: dict[str, object], priority: int
) -> None:
    sim = await start_sim(scheduling_policy="priority")
    request = prompt | {"max_tokens": 3, "ignore_eos": True, "priority": priority}
    async with http.post(f"{sim.url}{path}", json=request) as response:
        assert response.status == 200
        assert (await response.json())["usage"]["completion_tokens"] == 3


async def test_fcfs_server_takes_priority_zero(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"prompt": "Hi!", "max_tokens": 3, "priority": 0}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        assert response.status == 200
