"""vLLM-shaped errors with exact statuses and bodies; the server keeps serving after each one."""

from __future__ import annotations

import aiohttp
import pytest

MAX_MODEL_LEN = 256


def error(status: int, error_type: str, message: str, param: str | None) -> dict[str, object]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": status}}


@pytest.mark.parametrize(
    ("path", "payload", "status", "error_type", "param", "message_part"),
    [
        (
            "/v1/completions",
            {"prompt": "x", "max_tokens": 0},
            400,
            "BadRequestError",
            "max_tokens",
            "max_tokens must be at least 1, got 0.",
        ),
        (
            "/v1/completions",
            {"prompt": "x", "max_tokens": -5},
            400,
            "BadRequestError",
            "max_tokens",
            "at least 1",
        ),
        (
            "/v1/completions",
            {"prompt": "x", "max_tokens": "lots"},
            400,
            "BadRequestError",
            "max_tokens",
            "max_tokens: Input should be a valid integer",
        ),
        ("/v1/completions", {"prompt": 123}, 400, "BadRequestError", "prompt", "prompt"),
        ("/v1/completions", {"max_tokens": 5}, 400, "BadRequestError", "prompt", "prompt: Field required"),
        (
            "/v1/completions",
            {"prompt": "x", "max_tokens": 300},
            400,
            "BadRequestError",
            "max_tokens",
            "'max_tokens' is too large: 300",
        ),
        (
            "/v1/completions",
            {"prompt": "word " * 400},
            400,
            "BadRequestError",
            "prompt",
            f"maximum context length is {MAX_MODEL_LEN} tokens",
        ),
        ("/v1/completions", {"prompt": ""}, 400, "BadRequestError", "prompt", "The prompt cannot be empty."),
        ("/v1/completions", {"prompt": [-1, 5]}, 400, "BadRequestError", "prompt", "token id -1"),
        (
            "/v1/completions",
            {"prompt": "x", "temperature": -1},
            400,
            "BadRequestError",
            "temperature",
            "temperature must be non-negative",
        ),
        ("/v1/completions", {"prompt": "x", "top_p": 0}, 400, "BadRequestError", "top_p", "top_p must be in"),
        (
            "/v1/completions",
            {"prompt": "x", "n": 0},
            400,
            "BadRequestError",
            "n",
            "n must be at least 1, got 0.",
        ),
        ("/v1/completions", {"prompt": "x", "suffix": "end"}, 400, "BadRequestError", "suffix", "suffix"),
        (
            "/v1/completions",
            {"prompt": "x", "priority": 5},
            400,
            "BadRequestError",
            None,
            "Got priority 5 but Priority scheduling is not enabled.",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x"}], "priority": -1},
            400,
            "BadRequestError",
            None,
            "Got priority -1 but Priority scheduling is not enabled.",
        ),
        (
            "/v1/completions",
            {"prompt": "x", "priority": "high"},
            400,
            "BadRequestError",
            "priority",
            "priority: Input should be a valid integer",
        ),
        (
            "/v1/completions",
            {"prompt": "x", "priority": 2**63},
            400,
            "BadRequestError",
            "priority",
            "priority: Input should be less than or equal to 9223372036854775807",
        ),
        ("/v1/completions", {"prompt": "x", "logprobs": 3}, 400, "BadRequestError", "logprobs", "logprobs"),
        (
            "/v1/completions",
            {"prompt": "x", "stream_options": {"include_usage": True}},
            400,
            "BadRequestError",
            "stream_options",
            "Stream options can only be defined when `stream=True`.",
        ),
        (
            "/v1/completions",
            {"model": "no-such-model", "prompt": "x"},
            404,
            "NotFoundError",
            "model",
            "The model `no-such-model` does not exist.",
        ),
        ("/v1/chat/completions", {"messages": []}, 400, "BadRequestError", "messages", "messages"),
        ("/v1/chat/completions", {"max_tokens": 3}, 400, "BadRequestError", "messages", "Field required"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "robot", "content": "hi"}]},
            400,
            "BadRequestError",
            "messages",
            "messages.0.role",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0},
            400,
            "BadRequestError",
            "max_completion_tokens",
            "max_completion_tokens must be at least 1",
        ),
        (
            "/v1/chat/completions",
            {"model": "ghost", "messages": [{"role": "user", "content": "x"}]},
            404,
            "NotFoundError",
            "model",
            "The model `ghost` does not exist.",
        ),
        ("/detokenize", {"tokens": [2**40]}, 400, "BadRequestError", "tokens", "outside"),
        (
            "/v1/unload_lora_adapter",
            {"lora_name": "never-loaded"},
            404,
            "NotFoundError",
            "lora_name",
            "The lora adapter 'never-loaded' cannot be found.",
        ),
        ("/v1/load_lora_adapter", {"lora_name": "x"}, 400, "BadRequestError", "lora_path", "Field required"),
    ],
)
async def test_bad_requests(
    start_sim,
    http: aiohttp.ClientSession,
    path: str,
    payload: dict[str, object],
    status: int,
    error_type: str,
    param: str,
    message_part: str,
) -> None:
    sim = await start_sim(max_model_len=MAX_MODEL_LEN, num_gpu_blocks=64)
    async with http.post(f"{sim.url}{path}", json=payload) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        body = await response.json()
    assert body["error"]["type"] == error_type
    assert body["error"]["code"] == status
    assert body["error"]["param"] == param
    assert message_part in body["error"]["message"]
    async with http.post(
        f"{sim.url}/v1/completions", json={"prompt": "still up", "max_tokens": 1}
    ) as response:
        assert response.status == 200


async def test_malformed_json(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    headers = {"Content-Type": "application/json"}
    async with http.post(f"{sim.url}/v1/completions", data=b'{"prompt": "x",', headers=headers) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"]["type"] == "BadRequestError"
    assert body["error"]["message"].startswith("The request body is not valid JSON:")


async def test_json_that_is_not_an_object(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    async with http.post(f"{sim.url}/v1/chat/completions", json=["not", "an", "object"]) as response:
        assert response.status == 400
        assert await response.json() == error(
            400, "BadRequestError", "The request body must be a JSON object, got list.", None
        )


async def test_wrong_content_type(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    async with http.post(f"{sim.url}/v1/completions", data="prompt=x") as response:
        assert response.status == 415
        assert (await response.json())["error"]["type"] == "UnsupportedMediaTypeError"


async def test_unknown_route_and_method(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    async with http.get(f"{sim.url}/v1/nothing-here") as response:
        assert response.status == 404
        assert await response.json() == error(
            404, "NotFoundError", "No route for GET /v1/nothing-here.", None
        )
    async with http.get(f"{sim.url}/v1/completions") as response:
        assert response.status == 405
        assert (await response.json())["error"]["code"] == 405


async def test_body_over_the_size_limit(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(max_request_body_bytes=1024)
    async with http.post(f"{sim.url}/v1/completions", json={"prompt": "x" * 4096}) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == 413


async def test_injected_failures(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(name="flaky", faults={"error_rate": 1.0, "error_status": 503})
    async with http.post(f"{sim.url}/v1/completions", json={"prompt": "x"}) as response:
        assert response.status == 503
        body = await response.json()
    assert body["error"]["type"] == "ServiceUnavailableError"
    assert "flaky" in body["error"]["message"]
    async with http.get(f"{sim.url}/health") as response:
        assert response.status == 200  # the replica is up; only its answers fail


async def test_partial_failure_rate_is_seeded(start_sim, http: aiohttp.ClientSession) -> None:
    async def statuses(seed: int) -> list[int]:
        sim = await start_sim(seed=seed, faults={"error_rate": 0.5})
        found = []
        for _ in range(20):
            async with http.post(
                f"{sim.url}/v1/completions", json={"prompt": "x", "max_tokens": 1}
            ) as response:
                found.append(response.status)
        return found

    first = await statuses(5)
    assert set(first) == {200, 500}
    assert await statuses(5) == first


async def test_hanging_replica_accepts_and_never_answers(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(faults={"hang_rate": 1.0})
    with pytest.raises(TimeoutError):
        async with http.post(
            f"{sim.url}/v1/completions", json={"prompt": "x"}, timeout=aiohttp.ClientTimeout(total=0.3)
        ):
            pass
    async with http.get(f"{sim.url}/health") as response:
        assert response.status == 200


async def test_cut_stream_ends_without_done(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(faults={"cut_rate": 1.0, "cut_after_tokens": 3})
    request = {"prompt": "x", "max_tokens": 20, "ignore_eos": True, "stream": True}
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(f"{sim.url}/v1/completions", json=request) as response:
            assert response.status == 200
            async for data in response.content.iter_any():
                received += data
    assert received.count(b"data: {") == 3 and b"[DONE]" not in received


async def test_cut_non_streaming_answer_drops_the_connection(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(faults={"cut_rate": 1.0})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(f"{sim.url}/v1/completions", json={"prompt": "x", "max_tokens": 3}):
            pass
    async with http.get(f"{sim.url}/metrics") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/completions", {"prompt": "word " * 200_000, "max_tokens": 1}),
        # one 1 MiB "word": the cap must hold inside a word too
        ("/v1/completions", {"prompt": "a" * (1 << 20), "max_tokens": 1}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "word " * 200_000}]}),
    ],
    ids=["many words", "one huge word", "chat"],
)
async def test_huge_prompt_is_refused_after_tokenizing_one_token_past_the_window(
    start_sim, http: aiohttp.ClientSession, path: str, payload: dict[str, object]
) -> None:
    sim = await start_sim(max_model_len=MAX_MODEL_LEN, num_gpu_blocks=64)
    tokenizer = sim.runtime.tokenizer
    tokenize = tokenizer.tokenize
    produced: list[int] = []

    def counting_tokenize(text: str, limit: int | None = None, add_special_tokens: bool = True) -> list[int]:
        token_ids = tokenize(text, limit, add_special_tokens)
        produced.append(len(token_ids))
        return token_ids

    tokenizer.tokenize = counting_tokenize  # type: ignore[method-assign]
    async with http.post(f"{sim.url}{path}", json=payload) as response:
        assert response.status == 400
        body = await response.json()
    assert body == error(
        400,
        "BadRequestError",
        f"This model's maximum context length is {MAX_MODEL_LEN} tokens, and the request has more than "
        f"{MAX_MODEL_LEN} input tokens, which leaves no room for output. Shorten the input.",
        "prompt",
    )
    # The whole prompt is well over 100 000 tokens; only one past the window was tokenized.
    assert produced == [MAX_MODEL_LEN + 1]


async def test_a_prompt_that_fills_the_window_exactly_still_gets_the_exact_count(
    start_sim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(max_model_len=MAX_MODEL_LEN, num_gpu_blocks=64)
    prompt = "a" * (4 * MAX_MODEL_LEN)  # one word, four ASCII bytes per piece: exactly the window
    assert sim.runtime.tokenizer.count(prompt) == MAX_MODEL_LEN
    async with http.post(f"{sim.url}/v1/completions", json={"prompt": prompt}) as response:
        assert response.status == 400
        message = (await response.json())["error"]["message"]
    assert f"the request has {MAX_MODEL_LEN} input tokens, which leaves no room for output" in message
