"""/metrics: vLLM's names and label sets, parsed by prometheus_client, moving as vLLM's would under load."""

from __future__ import annotations

import asyncio

import aiohttp

# vLLM's engine-state names the EPP and the picker read, plus the counters and histograms dashboards use.
VLLM_SAMPLES = [
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:lora_requests_info",
    "vllm:cache_config_info",
    "vllm:prefix_cache_hits_total",
    "vllm:prefix_cache_queries_total",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:request_success_total",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket",
    "vllm:time_per_output_token_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:request_queue_time_seconds_bucket",
    "vllm:num_preemptions_total",
]

# Steps about 8x slower than an H100, so a load test of a few requests stays observable for a while.
SLOW = {"profile": "h100-llama3.1-8b", "faults": {"slowdown_factor": 8.0}}


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


async def open_stream(http: aiohttp.ClientSession, url: str, **payload: object) -> aiohttp.ClientResponse:
    body = {"prompt": "Tell me about pizza.", "max_tokens": 200, "ignore_eos": True, "stream": True} | payload
    response = await http.post(f"{url}/v1/completions", json=body)
    assert response.status == 200
    return response


async def wait_for(predicate, http: aiohttp.ClientSession, url: str, attempts: int = 100) -> str:
    for _ in range(attempts):
        text = await scrape(http, url)
        if predicate(text):
            return text
        await asyncio.sleep(0.02)
    raise AssertionError(f"metrics never reached the expected state:\n{text}")


async def test_names_and_label_sets(start_sim, http: aiohttp.ClientSession, prom) -> None:
    sim = await start_sim(model="m", max_loras=2, lora_modules=[{"name": "food-review-1"}])
    async with http.post(f"{sim.url}/v1/completions", json={"prompt": "x", "max_tokens": 3}) as response:
        assert response.status == 200
    text = await scrape(http, sim.url)
    found = prom.samples(text)
    for name in VLLM_SAMPLES:
        assert name in found, name
    assert found["vllm:num_requests_running"][0][0] == {"engine": "0", "model_name": "m"}
    lora_labels, lora_value = found["vllm:lora_requests_info"][0]
    assert set(lora_labels) == {"max_lora", "running_lora_adapters", "waiting_lora_adapters"}
    assert lora_labels["max_lora"] == "2"
    assert lora_value > 1_600_000_000  # a Unix timestamp, which the EPP uses to pick the newest series
    cache_labels, cache_value = found["vllm:cache_config_info"][0]
    assert cache_labels["block_size"] == "16" and cache_value == 1.0
    assert {labels["finished_reason"] for labels, _ in found["vllm:request_success_total"]} == {
        "stop",
        "length",
        "abort",
    }
    assert (
        prom.value(text, "vllm:request_success_total", finished_reason="stop")
        + prom.value(text, "vllm:request_success_total", finished_reason="length")
        == 1.0
    )
    assert prom.value(text, "vllm:generation_tokens_total") >= 1
    assert prom.value(text, "vllm:prompt_tokens_total") == 1


async def test_queue_grows_past_max_num_seqs(start_sim, http: aiohttp.ClientSession, prom) -> None:
    sim = await start_sim(max_num_seqs=2, **SLOW)
    streams = [await open_stream(http, sim.url, prompt=f"request {index}") for index in range(6)]
    try:
        text = await wait_for(
            lambda t: (
                prom.value(t, "vllm:num_requests_running") == 2
                and prom.value(t, "vllm:num_requests_waiting") == 4
            ),
            http,
            sim.url,
        )
        assert prom.value(text, "vllm:kv_cache_usage_perc") > 0
        assert prom.value(text, "vllm:gpu_cache_usage_perc") == prom.value(text, "vllm:kv_cache_usage_perc")
    finally:
        for stream in streams:
            stream.close()


async def test_kv_usage_rises_with_concurrent_load(start_sim, http: aiohttp.ClientSession, prom) -> None:
    sim = await start_sim(num_gpu_blocks=2048, max_model_len=4096, **SLOW)
    usage = []
    streams = []
    try:
        for count in (1, 3):
            while len(streams) < count:
                streams.append(
                    await open_stream(http, sim.url, prompt=f"{len(streams)} " + "long prompt " * 100)
                )
            text = await wait_for(
                lambda t, c=count: prom.value(t, "vllm:num_requests_running") == c, http, sim.url
            )
            usage.append(prom.value(text, "vllm:kv_cache_usage_perc"))
    finally:
        for stream in streams:
            stream.close()
    assert 0 < usage[0] < usage[1]


async def test_prefix_hits_rise_when_prompts_share_a_prefix(
    start_sim, http: aiohttp.ClientSession, prom
) -> None:
    sim = await start_sim()
    system = "You are the support assistant of a pizza chain. Answer politely and briefly. " * 8

    async def send(prompt: str) -> None:
        async with http.post(
            f"{sim.url}/v1/completions", json={"prompt": prompt, "max_tokens": 2}
        ) as response:
            assert response.status == 200

    await send(system + "Where is my order?")
    before = await scrape(http, sim.url)
    await send(system + "Do you deliver at night?")
    after = await scrape(http, sim.url)
    hits = prom.value(after, "vllm:prefix_cache_hits_total") - prom.value(
        before, "vllm:prefix_cache_hits_total"
    )
    queries = prom.value(after, "vllm:prefix_cache_queries_total") - prom.value(
        before, "vllm:prefix_cache_queries_total"
    )
    assert hits >= 0.8 * (queries - 16)  # all shared full blocks hit
    await send("Something else entirely, with nothing in common.")
    unrelated = await scrape(http, sim.url)
    assert prom.value(unrelated, "vllm:prefix_cache_hits_total") == prom.value(
        after, "vllm:prefix_cache_hits_total"
    )


async def test_adapter_is_running_while_in_use(start_sim, http: aiohttp.ClientSession, prom) -> None:
    sim = await start_sim(max_loras=1, lora_modules=[{"name": "food-review-1"}, {"name": "cad"}], **SLOW)
    stream = await open_stream(http, sim.url, model="food-review-1")
    waiting = await open_stream(http, sim.url, model="cad")
    try:
        text = await wait_for(
            lambda t: (
                prom.samples(t)["vllm:lora_requests_info"][0][0]["running_lora_adapters"] == "food-review-1"
            ),
            http,
            sim.url,
        )
        labels = prom.samples(text)["vllm:lora_requests_info"][0][0]
        assert labels["waiting_lora_adapters"] == "cad"  # max_loras=1: cad needs food-review-1's slot
    finally:
        stream.close()
        waiting.close()
    text = await wait_for(
        lambda t: prom.samples(t)["vllm:lora_requests_info"][0][0]["running_lora_adapters"] == "",
        http,
        sim.url,
    )
    assert prom.value(text, "vllm:num_requests_waiting") == 0


async def test_client_disconnect_aborts_the_request(start_sim, http: aiohttp.ClientSession, prom) -> None:
    sim = await start_sim(**SLOW)
    stream = await open_stream(http, sim.url)
    assert (await stream.content.readline()).startswith(b"data: ")
    running = await scrape(http, sim.url)
    assert prom.value(running, "vllm:num_requests_running") == 1
    stream.close()
    text = await wait_for(
        lambda t: prom.value(t, "vllm:request_success_total", finished_reason="abort") == 1, http, sim.url
    )
    assert prom.value(text, "vllm:num_requests_running") == 0
    assert prom.value(text, "vllm:kv_cache_usage_perc") == 0.0
