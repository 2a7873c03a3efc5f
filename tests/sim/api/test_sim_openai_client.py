"""The official ``openai`` client against the simulator directly: what applications will actually use."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture
async def client(start_sim):
    sim = await start_sim(lora_modules=[{"name": "food-review-1"}], max_model_len=4096)
    async with openai.AsyncOpenAI(
        base_url=f"{sim.url}/v1", api_key="unused", max_retries=0, timeout=10
    ) as client:
        yield client


async def test_completion_with_an_adapter(client: openai.AsyncOpenAI) -> None:
    completion = await client.completions.create(
        model="food-review-1", prompt="What is the best pizza in the world?", max_tokens=100, temperature=0
    )
    assert completion.model == "food-review-1"
    assert completion.choices[0].text
    assert completion.usage is not None and completion.usage.prompt_tokens == 11


async def test_streaming_chat_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="meta-llama/Llama-3.1-8B-Instruct",
        messages=[{"role": "user", "content": "Name a pizza."}],
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    pieces, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) and finish == "length"
    assert usage is not None and usage.completion_tokens == 6


async def test_non_streaming_chat(client: openai.AsyncOpenAI) -> None:
    response = await client.chat.completions.create(
        model="food-review-1",
        messages=[{"role": "user", "content": "Hi"}],
        max_completion_tokens=4,
    )
    assert response.choices[0].message.role == "assistant"
    assert response.usage is not None and 1 <= response.usage.completion_tokens <= 4


async def test_models_list(client: openai.AsyncOpenAI) -> None:
    ids = [model.id async for model in client.models.list()]
    assert ids == ["meta-llama/Llama-3.1-8B-Instruct", "food-review-1"]


async def test_errors_raise_the_sdk_exceptions(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        await client.completions.create(model="missing", prompt="x", max_tokens=1)
    assert "does not exist" in not_found.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        await client.completions.create(model="food-review-1", prompt="x", max_tokens=100_000)
    assert "too large" in bad.value.message
