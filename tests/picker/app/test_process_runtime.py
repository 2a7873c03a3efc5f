"""ProcessRuntime through PickerApp, in process: static endpoints, real scraping, the real Director."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from aiohttp import web
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from extproc_messages_for_app import completion_request
from grpc_health.v1 import health_pb2, health_pb2_grpc
from picker.app import PickerApp
from picker.config.errors import ConfigError
from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile
from picker.framework.clock import RealClock
from picker.options import PickerOptions
from picker.readiness_line import PickerReadinessLine
from picker.runtime import ProcessRuntime

from tests.loopback_app import serving_on_loopback


def metrics_app(waiting: int) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            text=f"vllm:num_requests_waiting {waiting}\nvllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0.1\n"
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


@pytest.fixture
async def busy_and_idle_ports() -> AsyncIterator[tuple[int, int]]:
    """Two model servers' metrics pages: 4 requests waiting, and none."""
    async with serving_on_loopback(metrics_app(4)) as busy, serving_on_loopback(metrics_app(0)) as idle:
        yield busy, idle


def options_for(endpoints_file, **overrides) -> PickerOptions:
    values = dict(
        endpoints_file=endpoints_file,
        bind_address="127.0.0.1",
        grpc_port=0,
        grpc_health_port=0,
        metrics_port=0,
        secure_serving=False,
        refresh_metrics_interval_s=0.02,
    )
    values.update(overrides)
    return PickerOptions(**values)


async def test_the_real_runtime_routes_to_the_least_loaded_endpoint_and_reports_metrics(
    tmp_path, capsys, busy_and_idle_ports
):
    busy_port, idle_port = busy_and_idle_ports
    endpoints_file = StaticPoolFile.of(
        [
            StaticEndpoint(name="busy", address="127.0.0.1", port=busy_port),
            StaticEndpoint(name="idle", address="127.0.0.1", port=idle_port),
        ]
    ).write(tmp_path / "endpoints.yaml")
    options = options_for(endpoints_file)
    clock = RealClock()
    app = PickerApp(options, ProcessRuntime(options, clock, {}), clock)
    await app.start()
    try:
        # The one readiness line a launcher parses: the ports it bound (port 0 in the options).
        announced = PickerReadinessLine.model_validate_json(capsys.readouterr().out.strip().splitlines()[-1])
        assert (announced.grpc_port, announced.health_port, announced.metrics_port) == (
            app.grpc_port,
            app.grpc_health_port,
            app.metrics_port,
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_health_port}") as channel:
            async with asyncio.timeout(5):
                while True:
                    response = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest()
                    )
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                    await asyncio.sleep(0.02)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = external_processor_pb2_grpc.ExternalProcessorStub(channel)
            destinations = []
            async with asyncio.timeout(10):
                while len(destinations) < 5:
                    call = stub.Process()
                    for message in completion_request():
                        await call.write(message)
                    answer = await call.read()
                    await call.done_writing()
                    header = {
                        o.header.key: o.header.raw_value.decode()
                        for o in answer.request_headers.response.header_mutation.set_headers
                    }["x-gateway-destination-endpoint"]
                    # Until both endpoints have been scraped either may win; after that only idle.
                    if header == f"127.0.0.1:{idle_port}" or destinations:
                        destinations.append(header)
                    await asyncio.sleep(0.02)
        assert destinations == [f"127.0.0.1:{idle_port}"] * 5
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{app.metrics_port}/metrics") as response:
                text = await response.text()
        assert 'inference_objective_request_total{model_name="m",target_model_name="m"}' in text
    finally:
        await app.stop(grace_s=0)


def test_bad_scheduling_config_fails_before_anything_runs(tmp_path):
    endpoints_file = tmp_path / "endpoints.yaml"
    endpoints_file.write_text("endpoints: []\n")
    options = options_for(endpoints_file, config_text="plugins:\n  - type: no-such-scorer\n")
    with pytest.raises(ConfigError, match="no-such-scorer"):
        ProcessRuntime(options, RealClock(), {})
