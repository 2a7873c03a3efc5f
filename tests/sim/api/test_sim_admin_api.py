"""/health, /v1/models, runtime LoRA load/unload, /tokenize, /detokenize and the render endpoints."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web
from sim.api.app import build_app
from sim.runtime import SimulatorRuntime

from sim import SimConfig
from tests.loopback_app import serving_on_loopback


async def test_health_names_the_replica(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(name="pod-7")
    async with http.get(f"{sim.url}/health") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "replica": "pod-7"}
    default = await start_sim()
    assert default.name == f"127.0.0.1:{default.port}"


async def test_models_lists_base_and_adapters(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(
        model="meta-llama/Llama-3.1-8B-Instruct",
        max_model_len=4096,
        lora_modules=[{"name": "food-review-1", "path": "/adapters/food"}],
    )
    async with http.get(f"{sim.url}/v1/models") as response:
        body = await response.json()
    assert body["object"] == "list"
    base, adapter = body["data"]
    assert base["id"] == "meta-llama/Llama-3.1-8B-Instruct" and base["parent"] is None
    assert base["max_model_len"] == 4096 and base["owned_by"] == "vllm" and base["object"] == "model"
    assert adapter["id"] == "food-review-1"
    assert adapter["root"] == "/adapters/food"
    assert adapter["parent"] == "meta-llama/Llama-3.1-8B-Instruct"


async def test_served_model_names_are_all_accepted(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(served_model_name=["llama", "llama-8b"])
    for name in ("llama", "llama-8b"):
        async with http.post(
            f"{sim.url}/v1/completions", json={"model": name, "prompt": "x", "max_tokens": 1}
        ) as r:
            assert r.status == 200 and (await r.json())["model"] == name


async def test_load_use_and_unload_an_adapter(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    request = {"model": "cad-fabricator", "prompt": "x", "max_tokens": 1}
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        assert response.status == 404
    load = {"lora_name": "cad-fabricator", "lora_path": "redcathode/fabricator"}
    async with http.post(f"{sim.url}/v1/load_lora_adapter", json=load) as response:
        assert response.status == 200
        assert await response.text() == "Success: LoRA adapter 'cad-fabricator' added successfully."
    async with http.post(f"{sim.url}/v1/load_lora_adapter", json=load) as response:
        assert response.status == 400
        assert (await response.json())["error"]["message"] == (
            "The lora adapter 'cad-fabricator' has already been loaded."
        )
    async with http.get(f"{sim.url}/v1/models") as response:
        assert "cad-fabricator" in [card["id"] for card in (await response.json())["data"]]
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        assert response.status == 200
    async with http.post(
        f"{sim.url}/v1/unload_lora_adapter", json={"lora_name": "cad-fabricator"}
    ) as response:
        assert response.status == 200
        assert await response.text() == "Success: LoRA adapter 'cad-fabricator' removed successfully."
    async with http.post(f"{sim.url}/v1/completions", json=request) as response:
        assert response.status == 404


async def test_without_enable_lora_adapters_are_refused(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(enable_lora=False)
    load = {"lora_name": "cad-fabricator", "lora_path": "redcathode/fabricator"}
    async with http.post(f"{sim.url}/v1/load_lora_adapter", json=load) as response:
        assert response.status == 400
        assert "--enable-lora" in (await response.json())["error"]["message"]


async def test_tokenize_detokenize_round_trip(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(max_model_len=2048)
    text = "What is the best pizza in the world? Ünïcödé 🍕"
    async with http.post(f"{sim.url}/tokenize", json={"prompt": text, "return_token_strs": True}) as response:
        body = await response.json()
    assert body["count"] == len(body["tokens"]) and body["max_model_len"] == 2048
    assert "".join(body["token_strs"]) == text
    async with http.post(f"{sim.url}/detokenize", json={"tokens": body["tokens"]}) as response:
        assert await response.json() == {"prompt": text}


async def test_tokenize_chat_matches_what_generation_counts(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim()
    messages = [{"role": "user", "content": "Hi there"}]
    async with http.post(f"{sim.url}/tokenize", json={"messages": messages}) as response:
        count = (await response.json())["count"]
    async with http.post(f"{sim.url}/v1/chat/completions", json={"messages": messages, "max_tokens": 1}) as r:
        assert (await r.json())["usage"]["prompt_tokens"] == count


async def test_render_endpoints_return_generate_requests(start_sim, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(max_model_len=1024)
    async with http.post(f"{sim.url}/tokenize", json={"prompt": "render me"}) as response:
        tokens = (await response.json())["tokens"]
    request = {"prompt": "render me", "max_tokens": 9, "temperature": 0.5, "stop": "\n"}
    async with http.post(f"{sim.url}/v1/completions/render", json=request) as response:
        assert response.status == 200
        [rendered] = await response.json()
    assert rendered["token_ids"] == tokens
    assert rendered["request_id"].startswith("cmpl-")
    assert rendered["sampling_params"]["max_tokens"] == 9
    assert rendered["sampling_params"]["temperature"] == 0.5
    assert rendered["sampling_params"]["stop"] == ["\n"]
    assert rendered["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    async with http.post(f"{sim.url}/v1/completions/render", json={"prompt": ["a b", "c d"]}) as response:
        assert len(await response.json()) == 2

    chat = {"messages": [{"role": "user", "content": "render me"}]}
    async with http.post(f"{sim.url}/tokenize", json=chat) as response:
        chat_tokens = (await response.json())["tokens"]
    async with http.post(f"{sim.url}/v1/chat/completions/render", json=chat) as response:
        rendered_chat = await response.json()
    assert rendered_chat["token_ids"] == chat_tokens
    assert rendered_chat["sampling_params"]["max_tokens"] == 1024 - len(chat_tokens)
    async with http.post(f"{sim.url}/v1/chat/completions/render", json=chat | {"model": "x"}) as response:
        assert response.status == 404


async def test_server_sockets_use_tcp_nodelay() -> None:
    runtime = SimulatorRuntime(SimConfig.build(profile="zero-latency"), "nodelay-check")
    app = build_app(runtime)

    async def socket_option(request: web.Request) -> web.Response:
        sock = request.transport.get_extra_info("socket")  # type: ignore[union-attr]
        return web.json_response({"nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)})

    app.router.add_get("/nodelay", socket_option)
    async with (
        serving_on_loopback(app) as port,
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/nodelay") as r,
    ):
        assert (await r.json())["nodelay"] != 0


async def test_ipv6_loopback(start_sim, http: aiohttp.ClientSession) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        sim = await start_sim(host="::1")
    except OSError as err:
        pytest.skip(f"IPv6 loopback unavailable: {err}")
    assert sim.url == f"http://[::1]:{sim.port}"
    async with http.get(f"{sim.url}/health") as response:
        assert response.status == 200
