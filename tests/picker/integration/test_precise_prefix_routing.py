"""Precise prefix-cache routing end to end: real Envoy, the picker with the precise profile, and simulators
publishing vLLM KV events. A prompt whose prefix a server holds goes there; once that server has evicted it
(and another holds it), requests follow the cache, not the routing history."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from gateway_harness import harness_picker
from picker.profiles import profile_text
from prometheus_client.parser import text_string_to_metric_families
from sim.config import SimConfig
from sim.server import SimulatorHandle, start_simulator

from infgw.envoy import EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.picker_process import PickerProcess
from infgw.launch.ports import free_port_block

pytestmark = pytest.mark.integration

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
SHARED = "You are the support assistant of a pizza shop; answer from the menu and the opening hours. " * 4


@dataclass(frozen=True)
class PoolMember:
    name: str
    host: str
    port: int


async def picker_metric(
    http: aiohttp.ClientSession, picker: PickerProcess, name: str, **labels: str
) -> float:
    async with http.get(f"http://127.0.0.1:{picker.metrics_port}/metrics") as response:
        text = await response.text()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def complete(http: aiohttp.ClientSession, url: str, prompt: str) -> str:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 2}
    async with http.post(f"{url}/v1/completions", json=body) as response:
        assert response.status == 200, await response.text()
        return response.headers["x-sim-replica"]


async def wait_for_metric(http, picker, name: str, at_least: float, **labels: str) -> None:
    async with asyncio.timeout(10):
        while await picker_metric(http, picker, name, **labels) < at_least:
            await asyncio.sleep(0.05)


@dataclass
class Fleet:
    sims: list[SimulatorHandle]
    events_base: int
    work_dir: Path
    cleanup: contextlib.AsyncExitStack
    http: aiohttp.ClientSession
    picker: PickerProcess | None = None
    gateway_url: str = ""

    async def start_gateway(self) -> None:
        """The picker (precise profile, dialing both simulators) and Envoy in front of it."""
        precise = yaml.safe_load(profile_text("precise"))
        parameters = precise["plugins"][0]["parameters"]
        parameters["kvEventsConfig"]["podDiscoveryConfig"] = {
            "socketPort": self.events_base,
            "replaySocketPort": self.events_base + 2,
        }
        config_file = self.work_dir / "precise.yaml"
        config_file.write_text(yaml.safe_dump(precise))
        # The EPP's names for two ranks of one pod: rank i reads events at socketPort + i.
        members = [
            PoolMember(f"pod-rank-{rank}", "127.0.0.1", sim.port) for rank, sim in enumerate(self.sims)
        ]
        picker = harness_picker(self.work_dir, members, {}, "--config-file", str(config_file))  # type: ignore[arg-type]
        self.picker = await self.cleanup.enter_async_context(picker)
        envoy = await self.cleanup.enter_async_context(
            EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection(port=picker.grpc_port))))
        )
        self.gateway_url = f"http://127.0.0.1:{envoy.listener_port}"


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    """Two simulators publishing KV events (live on base, base+1; replay on base+2, base+3)."""
    events_base = free_port_block(4)
    async with contextlib.AsyncExitStack() as cleanup:
        sims: list[SimulatorHandle] = []
        for rank in range(2):
            config = SimConfig.build(
                host="127.0.0.1",
                port=0,
                name=f"sim-{rank}",
                profile="zero-latency",
                num_gpu_blocks=96,
                max_model_len=1024,
                kv_events_config={
                    "enable_kv_cache_events": True,
                    "endpoint": f"tcp://*:{events_base + rank}",
                    "replay_endpoint": f"tcp://*:{events_base + 2 + rank}",
                    "topic": f"kv@127.0.0.1:{rank}@{MODEL}",
                },
            )
            sim = await start_simulator(config)
            cleanup.push_async_callback(sim.stop)
            sims.append(sim)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        cleanup.push_async_callback(http.close)
        yield Fleet(sims, events_base, tmp_path, cleanup, http)


async def test_requests_follow_the_servers_cache_not_the_routing_history(fleet: Fleet) -> None:
    await fleet.start_gateway()
    sims, picker, gateway_url, http = fleet.sims, fleet.picker, fleet.gateway_url, fleet.http
    assert picker is not None
    # sim-1 computes the shared prefix (directly, not through the gateway): only its events say so.
    await asyncio.sleep(0.5)  # the picker's subscriptions connect
    await complete(http, sims[1].url, SHARED + "warm-up")
    await wait_for_metric(http, picker, "inference_extension_kv_events_total", 1, event_type="BlockStored")
    served = [await complete(http, gateway_url, SHARED + f"question {index}") for index in range(6)]
    assert served == ["sim-1"] * 6, served

    # sim-1 evicts the prefix (other prompts fill its cache); sim-0 computes it.
    removed_before = await picker_metric(
        http, picker, "inference_extension_kv_events_total", event_type="BlockRemoved"
    )
    for index in range(4):
        await complete(http, sims[1].url, f"unrelated filler text number {index} " * 60)
    await wait_for_metric(
        http, picker, "inference_extension_kv_events_total", removed_before + 1, event_type="BlockRemoved"
    )
    stored = await picker_metric(
        http, picker, "inference_extension_kv_events_total", event_type="BlockStored"
    )
    await complete(http, sims[0].url, SHARED + "warm-up")
    await wait_for_metric(
        http, picker, "inference_extension_kv_events_total", stored + 1, event_type="BlockStored"
    )
    served = [await complete(http, gateway_url, SHARED + f"follow-up {index}") for index in range(6)]
    assert served == ["sim-0"] * 6, served
    assert await picker_metric(http, picker, "inference_extension_kv_events_fallback_endpoints") == 0
    errors = await picker_metric(http, picker, "inference_extension_kv_event_errors_total")
    assert errors == 0, picker.child.log_tail()


async def test_a_picker_started_after_the_servers_cached_recovers_it_by_replay(fleet: Fleet) -> None:
    """As after a picker restart: the prefix was computed before the picker subscribed; no event about it
    will come again, so only the replay buffer can tell the picker where it is."""
    await complete(fleet.http, fleet.sims[0].url, SHARED + "warm-up")
    await fleet.start_gateway()
    assert fleet.picker is not None
    await wait_for_metric(
        fleet.http, fleet.picker, "inference_extension_kv_events_total", 1, event_type="BlockStored"
    )
    served = [
        await complete(fleet.http, fleet.gateway_url, SHARED + f"question {index}") for index in range(6)
    ]
    assert served == ["sim-0"] * 6, served
