"""End-to-end harness: tiny aiohttp model servers that answer with their own identity and serve
configurable vLLM metrics, the real picker as a subprocess and real Envoy (both through ``infgw.launch``)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile

from infgw.envoy import EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.picker_process import PickerProcess

STARTUP_TIMEOUT_S = 20.0


@dataclass
class IdentityUpstream:
    """A model server double: answers completions with its name, the body it received and a usage block."""

    name: str
    host: str = "127.0.0.1"  # each upstream gets its own loopback IP, as pods have their own IPs
    waiting: int = 0
    kv_usage: float = 0.0
    resets_completions: bool = False  # metrics stay fine, but every completion's connection is reset
    # When set, a stream pauses after its first event until the test sets it: proves pass-through.
    sse_gate: asyncio.Event | None = None
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def metrics_text(self) -> str:
        return (
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="m"}} {self.waiting}\n'
            "# TYPE vllm:num_requests_running gauge\n"
            'vllm:num_requests_running{model_name="m"} 0\n'
            "# TYPE vllm:kv_cache_usage_perc gauge\n"
            f'vllm:kv_cache_usage_perc{{model_name="m"}} {self.kv_usage}\n'
        )

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.resets_completions and request.transport is not None:
            request.transport.abort()  # RST: what a crashing model server looks like to Envoy
            return web.Response()
        body = json.loads(raw)
        self.received.append(
            {
                "body": body,
                "headers": {name.lower(): value for name, value in request.headers.items()},
                "sha256": hashlib.sha256(raw).hexdigest(),
            }
        )
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(
                f'data: {{"served_by":"{self.name}","choices":[{{"text":"a"}}]}}\n\n'.encode()
            )
            if self.sse_gate is not None:
                await self.sse_gate.wait()
            await response.write(
                b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n'
            )
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        return web.json_response(
            {
                "served_by": self.name,
                "model": body.get("model"),
                "received_bytes": len(raw),
                "received_sha256": hashlib.sha256(raw).hexdigest(),
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        )

    async def _models(self, _: web.Request) -> web.Response:
        return web.json_response({"served_by": self.name, "data": []})

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(text=self.metrics_text())

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/metrics", self._metrics)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def harness_picker(
    work_dir: Path,
    endpoints: list[IdentityUpstream],
    objectives: dict[str, int],
    *args: str,
    env: dict[str, str] | None = None,
) -> PickerProcess:
    """``python -m picker`` (through the launcher) on port 0 with a static endpoints file of ``endpoints``."""
    return PickerProcess(
        "picker",
        work_dir / "picker.log",
        work_dir / "endpoints.yaml",
        ["--refresh-metrics-interval", "20ms", "--shutdown-grace-period", "2s", "--seed", "7", *args],
        endpoints=StaticPoolFile.of(
            [StaticEndpoint(name=u.name, address=u.host, port=u.port) for u in endpoints], objectives
        ),
        env=env,
        ready_timeout_s=STARTUP_TIMEOUT_S,
    )


@dataclass
class Gateway:
    envoy: EnvoyProcess
    upstreams: dict[str, IdentityUpstream]
    picker: PickerProcess | None
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.envoy.listener_port}"

    async def post(self, path: str, body: bytes | dict[str, Any], **headers: str) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.session.post(
            self.url + path, data=data, headers={"content-type": "application/json", **headers}
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                return response.status, text

    async def complete(self, prompt: str = "hello", **headers: str) -> tuple[int, Any]:
        return await self.post(
            "/v1/completions", {"model": "m", "prompt": prompt, "max_tokens": 1}, **headers
        )


def add_subset_hint(bootstrap: dict[str, Any], hostports: list[str]) -> None:
    """Make the data plane send a subset hint, as a gateway restricting candidates would: Envoy's
    set_metadata filter writes it before ext_proc, which forwards the namespace to the picker."""
    listener = bootstrap["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    manager["http_filters"].insert(
        0,
        {
            "name": "envoy.filters.http.set_metadata",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config",
                "metadata": [
                    {
                        "metadata_namespace": "envoy.lb.subset_hint",
                        "value": {"x-gateway-destination-endpoint-subset": hostports},
                    }
                ],
            },
        },
    )


async def start_gateway(
    work_dir: Path,
    cleanup: contextlib.AsyncExitStack,
    upstream_names: tuple[str, ...] = ("a", "b"),
    *,
    picker_args: tuple[str, ...] = (),
    objectives: dict[str, int] | None = None,
    picker_endpoints: tuple[str, ...] | None = None,
    with_picker: bool = True,
    picker_connection: dict[str, Any] | None = None,
    fallback_pool: bool = False,
    subset_hint: list[str] | None = None,
    spec_options: dict[str, Any] | None = None,
) -> Gateway:
    """Upstreams, then the picker serving ``picker_endpoints`` of them (default all), then Envoy.

    Everything started is registered on ``cleanup`` so it stops, in reverse order, whatever fails.
    """
    upstreams = {
        name: IdentityUpstream(name, host=f"127.0.0.{11 + index}")
        for index, name in enumerate(upstream_names)
    }
    for upstream in upstreams.values():
        await upstream.start()
        cleanup.push_async_callback(upstream.stop)
    picker = None
    connection = dict(picker_connection or {})
    if with_picker:
        served = [
            upstreams[n] for n in (picker_endpoints if picker_endpoints is not None else upstream_names)
        ]
        picker = await cleanup.enter_async_context(
            harness_picker(work_dir, served, objectives or {}, *picker_args)
        )
        connection.setdefault("port", picker.grpc_port)
        connection.setdefault("tls", "--secure-serving=false" not in picker_args)
    spec = EnvoyBootstrapSpec(
        picker=PickerConnection(**connection),
        endpoints=tuple(u.hostport for u in upstreams.values()) if fallback_pool else (),
        **(spec_options or {}),
    )
    bootstrap = build_bootstrap(spec)
    if subset_hint is not None:
        add_subset_hint(bootstrap, [upstreams[name].hostport for name in subset_hint])
    envoy = await cleanup.enter_async_context(EnvoyProcess(bootstrap))
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    cleanup.push_async_callback(session.close)
    return Gateway(envoy, upstreams, picker, session)
