"""The local gateway for real: simulated replicas, one picker per pool and Envoy, driven through the
official openai client. One gateway per module (two pools, three replicas); the destructive tests run last."""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest
import pytest_asyncio
from local_gateway_stacks import LLAMA, QWEN, TWO_POOL_SERVICES, write_stack

from infgw.local.command import load_local_plan
from infgw.local.gateway import LocalGateway
from infgw.local.gateway_options import GatewayOptions
from infgw.local.replica_status import fetch_replica_status

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

OBJECTIVE_HEADER = "x-gateway-inference-objective"
# One running sequence per replica: saturating a replica (queue > 5) takes seven requests. Steps 5x
# slower than an H100 (50 ms per token): the saturating load then streams only two slow token streams
# through Envoy and the picker, which a busy 2-core box carries; the other tests ask for a few tokens.
SIM_OVERRIDES = {"max_num_seqs": 1, "faults": {"slowdown_factor": 5.0}}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited and only waits to be reaped.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(project_file: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalGateway]:
    # The EPP's default profile: its legacy admission sheds sheddable requests once the model servers'
    # queues pass the saturation threshold, which the shedding test below drives.
    services = copy.deepcopy(TWO_POOL_SERVICES)
    for pool in services["pools"]:
        pool["picker"] = {"profile": "default"}
    project = write_stack(tmp_path_factory.mktemp("two-pool-epp"), "two-pool-epp", services, project_file)
    manifests = tmp_path_factory.mktemp("manifests")
    plan = load_local_plan("two-pool-epp", project, manifests, sim_overrides=SIM_OVERRIDES)
    running = LocalGateway(plan, GatewayOptions(ready_timeout_s=60), tmp_path_factory.mktemp("local-gateway"))
    async with running:
        pids = [child.pid for child in running.supervisor.children]
        yield running
    assert pids and all(pid is not None for pid in pids)
    left = [pid for pid in pids if pid is not None and pid_alive(pid)]
    assert not left, f"processes left running after the gateway stopped: {left}"


@pytest_asyncio.fixture(loop_scope="module")
async def client(gateway: LocalGateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0, timeout=30
    ) as api:
        yield api


def replica_names(gateway: LocalGateway, pool: str) -> set[str]:
    return {replica.name for replica in gateway.replicas_of(pool)}


async def test_completion_through_envoy_and_the_picker(
    gateway: LocalGateway, client: openai.AsyncOpenAI
) -> None:
    raw = await client.completions.with_raw_response.create(
        model=LLAMA, prompt="What is the best pizza?", max_tokens=8
    )
    completion = raw.parse()
    assert completion.model == LLAMA
    assert completion.choices[0].text
    assert completion.usage is not None and completion.usage.completion_tokens == 8
    assert raw.headers["x-sim-replica"] in replica_names(gateway, "llama")
    assert raw.headers["server"] == "envoy"


async def test_streamed_completion_ends_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.completions.create(
        model=LLAMA, prompt="Name a pizza.", max_tokens=6, stream=True, stream_options={"include_usage": True}
    )
    texts, usage = [], None
    async for chunk in stream:
        texts += [choice.text for choice in chunk.choices]
        usage = chunk.usage or usage
    assert "".join(texts)
    assert usage is not None and usage.completion_tokens == 6


async def test_chat_to_the_second_pool_is_routed_by_the_body_model(
    gateway: LocalGateway, client: openai.AsyncOpenAI
) -> None:
    raw = await client.chat.completions.with_raw_response.create(
        model=QWEN, messages=[{"role": "user", "content": "hello"}], max_tokens=5
    )
    chat = raw.parse()
    assert chat.model == QWEN
    assert chat.choices[0].message.content
    assert raw.headers["x-sim-replica"] in replica_names(gateway, "qwen")


async def test_streamed_chat(gateway: LocalGateway, client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=LLAMA,
        messages=[{"role": "user", "content": "What is the best pizza in the world?"}],
        max_tokens=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    content, usage = [], None
    async for chunk in stream:
        content += [choice.delta.content or "" for choice in chunk.choices]
        usage = chunk.usage or usage
    assert "".join(content)
    assert usage is not None and usage.completion_tokens == 7


async def test_adapter_name_as_model_reaches_its_base_pool(
    gateway: LocalGateway, client: openai.AsyncOpenAI
) -> None:
    raw = await client.completions.with_raw_response.create(
        model="food-review-1", prompt="Review: great", max_tokens=4
    )
    assert raw.parse().model == "food-review-1"
    assert raw.headers["x-sim-replica"] in replica_names(gateway, "llama")
    async with aiohttp.ClientSession() as session:
        statuses = [await fetch_replica_status(session, r.name, r.url) for r in gateway.replicas_of("llama")]
    assert sum(status.requests_done for status in statuses) >= 1


async def test_models_list_names_base_model_and_adapter(client: openai.AsyncOpenAI) -> None:
    models = {model.id async for model in client.models.list()}
    assert {LLAMA, "food-review-1"} <= models


async def test_unknown_model_is_a_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.completions.create(model="no-such-model", prompt="x", max_tokens=2)


async def test_malformed_json_is_a_400_with_an_openai_error(gateway: LocalGateway) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{gateway.url}/v1/completions",
            data=b'{"model": "x", "prompt": ',
            headers={"content-type": "application/json"},
        ) as response:
            assert response.status == 400
            body = json.loads(await response.text())
    assert body["error"]["message"]


async def test_objective_header_sheds_only_sheddable_traffic_under_saturation(
    gateway: LocalGateway, client: openai.AsyncOpenAI
) -> None:
    async def long_stream(index: int) -> None:
        # Distinct prompts, or prefix affinity would pile everything onto one replica; ignore_eos keeps
        # each request generating all 2000 tokens (minutes), so the queues stay long until cancelled.
        stream = await client.completions.create(
            model=LLAMA,
            prompt=f"{index} tell me everything",
            max_tokens=2000,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        async for _ in stream:
            pass

    # 2 replicas x 1 running; 18 more wait, so even an uneven split (12/6) leaves every replica's queue
    # past the picker's threshold of 5: the pool is saturated.
    load = [asyncio.create_task(long_stream(index)) for index in range(20)]
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 40
        queues: list[int] = []
        statuses = []
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                # A replica streaming to many clients on a busy CI box can take over a second to answer
                # /metrics; the status view's 1 s default would then read it as down with an empty queue.
                statuses = [
                    await fetch_replica_status(session, r.name, r.url, timeout_s=10.0)
                    for r in gateway.replicas_of("llama")
                ]
                queues = [status.waiting for status in statuses]
                if all(waiting > 5 for waiting in queues):
                    break
                await asyncio.sleep(0.2)
        failed_load = [repr(task.exception()) for task in load if task.done() and task.exception()]
        assert all(waiting > 5 for waiting in queues), (
            f"the load never saturated the pool: queues {queues}, "
            f"replicas {[(s.name, s.up, s.error) for s in statuses]}, failed load requests {failed_load[:3]}"
        )
        shed = None
        outcomes: list[str] = []
        deadline = loop.time() + 10
        while shed is None and loop.time() < deadline:
            try:
                # A probe sent before the picker's next scrape saw the queues may still be admitted; it
                # would then wait behind the load, so it gets a short timeout and the next probe follows.
                await client.completions.create(
                    model=LLAMA,
                    prompt="batch job",
                    max_tokens=2,
                    extra_headers={OBJECTIVE_HEADER: "batch"},
                    timeout=2,
                )
                outcomes.append("200")
            except openai.RateLimitError as error:
                shed = error
            except openai.APITimeoutError:
                outcomes.append("timeout")
        assert shed is not None, f"sheddable traffic was not shed under saturation; probes: {outcomes}"
        assert shed.status_code == 429
        # Critical traffic sent under the same saturation is admitted, not shed: it waits in a replica's
        # queue and is answered once the load goes away.
        critical = asyncio.create_task(
            client.completions.create(
                model=LLAMA, prompt="critical job", max_tokens=2, extra_headers={OBJECTIVE_HEADER: "critical"}
            )
        )
        await asyncio.sleep(0.5)  # let the picker admit it while the queues are still long
    finally:
        for task in load:
            task.cancel()
        await asyncio.gather(*load, return_exceptions=True)
    answer = await asyncio.wait_for(critical, 20)
    assert answer.choices[0].text


async def test_fail_open_pool_serves_without_its_picker(
    gateway: LocalGateway, client: openai.AsyncOpenAI
) -> None:
    await gateway.pickers["qwen"].child.stop()
    raw = await client.completions.with_raw_response.create(model=QWEN, prompt="still there?", max_tokens=3)
    assert raw.parse().choices[0].text
    assert raw.headers["x-sim-replica"] in replica_names(gateway, "qwen")


async def test_every_replica_down_is_a_503_and_the_gateway_keeps_serving(
    gateway: LocalGateway, client: openai.AsyncOpenAI
) -> None:
    await asyncio.gather(*(replica.replica.child.stop() for replica in gateway.replicas_of("llama")))
    with pytest.raises(openai.APIStatusError) as raised:
        await client.completions.create(model=LLAMA, prompt="anyone?", max_tokens=2)
    assert raised.value.status_code == 503
    # The other pool is untouched.
    answer = await client.completions.create(model=QWEN, prompt="and you?", max_tokens=2)
    assert answer.choices[0].text


async def test_fail_close_pool_without_its_picker_fails_the_request(
    gateway: LocalGateway, client: openai.AsyncOpenAI
) -> None:
    await gateway.pickers["llama"].child.stop()
    with pytest.raises(openai.APIStatusError) as raised:
        await client.completions.create(model=LLAMA, prompt="picker?", max_tokens=2, timeout=20)
    # FailClose: Envoy's ext_proc cannot reach the picker and fails the request instead of guessing.
    assert raised.value.status_code >= 500
    assert gateway.envoy is not None and gateway.envoy.child.running
