"""The simulator's KV events read by a vLLM client: PUB frames, sequence numbers, msgpack, replay."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import zmq
import zmq.asyncio
from sim.kv_events.config import KVEventsConfig, KVEventsConfigError, binds

from tests.sim.kv_events.vllm_schema import Batch, decode_batch, decode_frames

TOPIC = "kv@127.0.0.1:8000@meta-llama/Llama-3.1-8B-Instruct"
PROMPT = "The quick brown fox jumps over the lazy dog. " * 12


def _events_config(**overrides: object) -> KVEventsConfig:
    values: dict[str, object] = {
        "enable_kv_cache_events": True,
        "endpoint": "tcp://127.0.0.1:*",
        "replay_endpoint": "tcp://127.0.0.1:*",
        "topic": TOPIC,
    }
    return KVEventsConfig.model_validate(values | overrides)


async def _subscriber(context: zmq.asyncio.Context, endpoint: str) -> zmq.asyncio.Socket:
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SUBSCRIBE, b"kv@")
    socket.connect(endpoint)
    await asyncio.sleep(0.3)  # ZMQ's slow joiner: let the subscription reach the publisher
    return socket


async def _receive(socket: zmq.asyncio.Socket) -> tuple[bytes, int, Batch]:
    frames = await asyncio.wait_for(socket.recv_multipart(), timeout=5)
    return decode_frames(frames)


async def _complete(http: aiohttp.ClientSession, url: str, prompt: str, **extra: object) -> None:
    body = {"model": "meta-llama/Llama-3.1-8B-Instruct", "prompt": prompt, "max_tokens": 2} | extra
    async with http.post(f"{url}/v1/completions", json=body) as response:
        assert response.status == 200, await response.text()


async def _token_ids(http: aiohttp.ClientSession, url: str, prompt: str) -> list[int]:
    async with http.post(f"{url}/tokenize", json={"prompt": prompt}) as response:
        return (await response.json())["tokens"]


@pytest.mark.parametrize("encoding", ["map", "array"])
async def test_a_vllm_client_reads_stored_blocks(start_sim, http, encoding: str) -> None:
    sim = await start_sim(kv_events_config=_events_config(), kv_events_encoding=encoding)
    publisher = sim.runtime.kv_events.publisher
    context = zmq.asyncio.Context()
    try:
        socket = await _subscriber(context, publisher.endpoint)
        await _complete(http, sim.url, PROMPT)
        topic, seq, batch = await _receive(socket)
        tokens = await _token_ids(http, sim.url, PROMPT)
    finally:
        context.destroy(linger=0)
    assert topic == TOPIC.encode() and seq == 0 and batch.data_parallel_rank == 0
    (stored,) = batch.events
    assert stored["type"] == "BlockStored"
    full_blocks = len(tokens) // 16
    assert len(stored["block_hashes"]) == full_blocks
    assert all(isinstance(h, int) and 0 <= h < 2**64 for h in stored["block_hashes"])
    assert stored["token_ids"] == tokens[: full_blocks * 16]
    assert stored["parent_block_hash"] is None
    assert (stored["block_size"], stored["medium"], stored["lora_name"]) == (16, "GPU", None)


async def test_sequence_numbers_count_batches_and_replay_answers_from_the_buffer(start_sim, http) -> None:
    sim = await start_sim(kv_events_config=_events_config())
    publisher = sim.runtime.kv_events.publisher
    context = zmq.asyncio.Context()
    try:
        socket = await _subscriber(context, publisher.endpoint)
        for index in range(3):
            await _complete(http, sim.url, f"prompt number {index} " + PROMPT)
        live = [await _receive(socket) for _ in range(3)]
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(publisher.replay_endpoint)
        await dealer.send_multipart([b"", (1).to_bytes(8, "big")])
        replayed: list[list[bytes]] = []
        while True:
            frames = await asyncio.wait_for(dealer.recv_multipart(), timeout=5)
            assert frames[0] == b""  # the ROUTER's envelope delimiter
            if frames[1:] == [b"", (-1).to_bytes(8, "big", signed=True), b""]:
                break
            replayed.append(frames[1:])
    finally:
        context.destroy(linger=0)
    assert [seq for _, seq, _ in live] == [0, 1, 2]
    assert [decode_frames(frames)[1] for frames in replayed] == [1, 2]
    assert [decode_frames(frames)[2].events for frames in replayed] == [
        batch.events for _, _, batch in live[1:]
    ]


async def test_evictions_and_reset_are_published(start_sim, http) -> None:
    sim = await start_sim(kv_events_config=_events_config(), num_gpu_blocks=40, max_model_len=600)
    context = zmq.asyncio.Context()
    try:
        socket = await _subscriber(context, sim.runtime.kv_events.publisher.endpoint)
        await _complete(http, sim.url, "alpha " * 200)
        await _complete(http, sim.url, "omega " * 150)
        async with http.post(f"{sim.url}/reset_prefix_cache") as response:
            assert response.status == 200
        types: list[str] = []
        while "AllBlocksCleared" not in types:
            _, _, batch = await _receive(socket)
            types.extend(event["type"] for event in batch.events)
    finally:
        context.destroy(linger=0)
    assert types.count("BlockStored") >= 2 and "BlockRemoved" in types
    assert types.index("BlockRemoved") < types.index("AllBlocksCleared")


async def test_adapter_requests_carry_the_lora_name(start_sim, http) -> None:
    sim = await start_sim(kv_events_config=_events_config(), lora_modules=[{"name": "sql"}])
    context = zmq.asyncio.Context()
    try:
        socket = await _subscriber(context, sim.runtime.kv_events.publisher.endpoint)
        body = {"model": "sql", "prompt": PROMPT, "max_tokens": 2}
        async with http.post(f"{sim.url}/v1/completions", json=body) as response:
            assert response.status == 200
        _, _, batch = await _receive(socket)
    finally:
        context.destroy(linger=0)
    assert batch.events[0]["lora_name"] == "sql"
    assert all(keys == ["sql"] for keys in batch.events[0]["extra_keys"])


def test_vllm_defaults_and_endpoint_rule() -> None:
    config = KVEventsConfig()
    assert (config.publisher, config.endpoint, config.buffer_steps, config.hwm, config.topic) == (
        "null",
        "tcp://*:5557",
        10_000,
        100_000,
        "",
    )
    assert KVEventsConfig(enable_kv_cache_events=True).publisher == "zmq"
    assert binds("tcp://*:5557") and binds("ipc:///run/kv-events.sock") and not binds("tcp://10.0.0.1:5557")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"enable_kv_cache_events": true, "bufer_steps": 3}', "bufer_steps"),
        ('{"publisher": "kafka"}', 'publisher must be "zmq" or "null"'),
    ],
)
def test_bad_config_names_the_key(text: str, message: str) -> None:
    with pytest.raises(KVEventsConfigError, match=message):
        KVEventsConfig.from_json(text)


def test_map_and_array_batches_decode_alike() -> None:
    import msgpack

    as_map = msgpack.packb([1.0, [{"type": "AllBlocksCleared"}], 0])
    as_array = msgpack.packb([1.0, [["AllBlocksCleared"]], 0])
    assert decode_batch(as_map) == decode_batch(as_array)
