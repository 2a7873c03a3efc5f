"""The picker cuts a request into the blocks the simulator stores: same tokens, same keys, for completions
and chat, base model and adapter, with the simulator's approximate tokenizer and with a real tokenizer.json.

End to end: the simulator serves the request and publishes its BlockStored events over ZMQ; the picker's
index takes them; the picker tokenizes the same body on its own and must find every full block cached.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import aiohttp
import pytest
import zmq
import zmq.asyncio
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.plugins.precise_prefix_cache_scorer import create_precise_prefix_cache_scorer
from picker.request_parsing import parse_inference_request, parse_request_headers
from sim.config import SimConfig
from sim.server import start_simulator

from tests.picker.tokenization.tiny_tokenizer import build_tiny_tokenizer

SYSTEM = "You are a helpful assistant for a pizza shop. Answer briefly and politely. " * 3
QUESTION = "Summarise the following support ticket and propose the next action for the customer. " * 2


def bodies(model: str) -> dict[str, dict[str, object]]:
    return {
        "completions": {"model": model, "prompt": SYSTEM + QUESTION, "max_tokens": 1},
        "chat": {
            "model": model,
            "max_tokens": 1,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
            ],
        },
    }


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tiny-tokenizer"))


@pytest.mark.parametrize("tokenizer", ["approximate", "tokenizer.json"])
@pytest.mark.parametrize("model", ["base", "sql-adapter"])
@pytest.mark.parametrize("kind", ["completions", "chat"])
async def test_picker_blocks_equal_simulator_blocks(
    tokenizer_dir: Path, tokenizer: str, model: str, kind: str
) -> None:
    plugin_context = PluginContext(clock=FakeClock(), rng=random.Random(1), in_flight=InFlightTracker())
    real = tokenizer == "tokenizer.json"
    config = SimConfig.build(
        host="127.0.0.1",
        port=0,
        profile="zero-latency",
        served_model_name=["base"],
        lora_modules=[{"name": "sql-adapter"}],
        tokenizer=str(tokenizer_dir) if real else None,
        kv_events_config={
            "enable_kv_cache_events": True,
            "endpoint": "tcp://127.0.0.1:*",
            "topic": "kv@sim@base",
        },
    )
    parameters: dict[str, object] = {"tokenProcessorConfig": {"blockSizeTokens": 16}}
    if real:
        parameters["tokenizer"] = {"path": str(tokenizer_dir)}
    scorer = create_precise_prefix_cache_scorer("precise", parameters, plugin_context)
    body = bodies(model)[kind]
    context = zmq.asyncio.Context()
    sim = await start_simulator(config)
    try:
        socket = context.socket(zmq.SUB)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.connect(sim.runtime.kv_events.publisher.endpoint)
        await asyncio.sleep(0.3)  # ZMQ's slow joiner
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{sim.url}/v1/{kind.replace('chat', 'chat/completions')}", json=body
            ) as response:
                assert response.status == 200, await response.text()
                prompt_tokens = (await response.json())["usage"]["prompt_tokens"]
        message = scorer.indexer.parse(await asyncio.wait_for(socket.recv_multipart(), timeout=5))
        assert message is not None
        scorer.indexer.apply("sim", message.seq, message.batch)
    finally:
        await sim.stop()
        context.destroy(linger=0)
    request = parse_inference_request(parse_request_headers({}, "r-1"), json.dumps(body).encode())
    matched, total = scorer.match(request)
    assert total == prompt_tokens // 16 >= 4
    assert matched == {"sim": total}
