"""bench.micro.picker.load_harness: the native harness's Envoy-answered upstreams give the Python upstreams'
answers (what the picker scrapes and what a client reads), and wrk drives a closed loop through them (skipped
where wrk is not installed: nothing in CI needs it)."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest
from bench.micro.picker.envoy_overhead import instant_metrics, instant_reply
from bench.micro.picker.envoy_upstreams import envoy_upstreams
from bench.micro.picker.wrk_load import run_wrk_closed_loop
from picker.datastore.vllm_metrics import parse_vllm_metrics

pytestmark = pytest.mark.integration


def test_envoy_upstreams_answer_as_the_python_upstreams_do():
    with envoy_upstreams(2) as (upstreams, pid):
        assert pid > 0 and len(set(upstreams)) == 2
        for index, upstream in enumerate(upstreams):
            with urllib.request.urlopen(f"http://{upstream}/metrics", timeout=5) as response:
                text = response.read().decode()
            assert text == instant_metrics()
            assert parse_vllm_metrics(text, 0.0).kv_cache_usage_ratio == pytest.approx(0.1)
            request = urllib.request.Request(f"http://{upstream}/v1/completions", data=b'{"prompt": "x"}')
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.headers["content-type"] == "application/json"
                assert json.loads(response.read()) == json.loads(instant_reply(f"upstream-{index}"))


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_wrk_counts_the_requests_it_completed_and_its_own_cpu():
    with envoy_upstreams(1) as (upstreams, _):
        run = run_wrk_closed_loop(f"http://{upstreams[0]}/v1/completions", 2, 1.0, seed=1)
    assert run.completed > 0 and run.errors == 0
    assert run.elapsed_s > 0.5 and run.cpu_s > 0
