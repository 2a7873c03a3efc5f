"""Instant upstreams answered by one Envoy (``direct_response``): the same completions answer and vLLM
metrics as ``envoy_overhead.upstream_processes``, at a compiled server's CPU cost instead of four Python
processes'. A cheaper harness for ``worker_scaling --harness native``: it frees CPU for what runs beside it
on a small machine; it does not make the picker cheaper.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.micro.picker.envoy_overhead import instant_metrics, instant_reply
from infgw.envoy.bootstrap import ENVOY_TYPE_URL, TYPE_KEY, socket_address
from infgw.launch.envoy_process import EnvoyProcess


def _answer(body: str, content_type: str) -> dict[str, Any]:
    return {
        "direct_response": {"status": 200, "body": {"inline_string": body}},
        "response_headers_to_add": [{"header": {"key": "content-type", "value": content_type}}],
    }


def _upstream_listener(name: str) -> dict[str, Any]:
    manager = {
        TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": "AUTO",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": name,
                    "domains": ["*"],
                    "routes": [
                        {"match": {"path": "/metrics"}, **_answer(instant_metrics(), "text/plain; version=0.0.4")},
                        {"match": {"prefix": "/"}, **_answer(instant_reply(name).decode(), "application/json")},
                    ],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.router.v3.Router"},
            }
        ],
    }
    return {
        "name": name,
        "address": socket_address("127.0.0.1", 0),
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": manager}]}],
    }  # fmt: skip


def envoy_upstreams_bootstrap(count: int) -> dict[str, Any]:
    """``count`` listeners ``upstream-0``.. on free loopback ports, each an instant upstream."""
    return {
        "admin": {"address": socket_address("127.0.0.1", 0)},
        "static_resources": {"listeners": [_upstream_listener(f"upstream-{i}") for i in range(count)]},
    }


@contextmanager
def envoy_upstreams(count: int) -> Iterator[tuple[list[str], int]]:
    """Yields (``127.0.0.1:port`` of each upstream, the Envoy's pid); stops it on exit."""
    with EnvoyProcess(envoy_upstreams_bootstrap(count), name="envoy-upstreams") as envoy:
        assert envoy.child.pid is not None
        yield [f"127.0.0.1:{envoy.listener_ports[f'upstream-{i}']}" for i in range(count)], envoy.child.pid
