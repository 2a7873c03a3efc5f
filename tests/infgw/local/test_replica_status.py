"""A replica's /metrics page -> the status row: queue, running, KV use, prefix hit rate, adapters."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from infgw.launch.ports import free_port
from infgw.local.replica_status import fetch_replica_status, parse_replica_metrics
from tests.loopback_app import serving_on_loopback

PAGE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 7.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.42
# HELP vllm:lora_requests_info Running stats on lora requests.
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="2",running_lora_adapters="",waiting_lora_adapters=""} 1.7e+09
vllm:lora_requests_info{max_lora="2",running_lora_adapters="food-review-1,sql",waiting_lora_adapters="cad"} 1.8e+09
# HELP vllm:prefix_cache_queries Prefix cache queries, in tokens.
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 200.0
# HELP vllm:prefix_cache_hits Prefix cache hits, in tokens.
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 50.0
# HELP vllm:request_success Count of successfully processed requests.
# TYPE vllm:request_success counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 4.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 6.0
"""


def test_parses_every_column_of_the_status_view() -> None:
    status = parse_replica_metrics("r0", PAGE)
    assert status.up
    assert (status.waiting, status.running) == (7, 3)
    assert status.kv_usage == pytest.approx(0.42)
    assert status.prefix_hit_rate == pytest.approx(0.25)
    # The newest lora_requests_info series (largest timestamp value) is the current state.
    assert status.running_adapters == ("food-review-1", "sql")
    assert status.waiting_adapters == ("cad",)
    assert status.requests_done == 10  # summed over finish reasons


def test_legacy_kv_metric_and_no_prefix_queries() -> None:
    status = parse_replica_metrics(
        "r1", '# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name="m"} 0.9\n'
    )
    assert status.kv_usage == pytest.approx(0.9)
    assert status.prefix_hit_rate is None
    assert status.running_adapters == ()


def test_unparseable_page_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_replica_metrics("r", "vllm:num_requests_waiting{unterminated 1\n")


async def test_fetch_reports_a_replica_that_is_gone_as_down() -> None:
    async with aiohttp.ClientSession() as session:
        status = await fetch_replica_status(session, "gone", f"http://127.0.0.1:{free_port()}")
    assert not status.up
    assert status.error == "ClientConnectorError"


async def test_fetch_reads_a_live_metrics_page() -> None:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=PAGE)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    async with serving_on_loopback(app) as port, aiohttp.ClientSession() as session:
        status = await fetch_replica_status(session, "live", f"http://127.0.0.1:{port}")
    assert status.up and status.waiting == 7
