"""A model-server double for faults the simulator does not inject: /metrics that returns garbage or
hangs, answers that hang or crawl, streams cut mid-way. Its behaviour is switched at run time through
POST /control; it names itself in ``x-sim-replica`` and announces readiness as the simulator does."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass

from aiohttp import web
from sim.readiness_line import SimReadinessLine

VLLM_METRICS = (
    "# TYPE vllm:num_requests_waiting gauge\n"
    'vllm:num_requests_waiting{{model_name="m"}} {waiting}\n'
    "# TYPE vllm:num_requests_running gauge\n"
    'vllm:num_requests_running{{model_name="m"}} {running}\n'
    "# TYPE vllm:kv_cache_usage_perc gauge\n"
    'vllm:kv_cache_usage_perc{{model_name="m"}} {kv_usage}\n'
)
# Load signals as a vLLM replica would report them: each sequence in flight holds KV blocks, and past
# its batch slots requests wait. A slow or hung replica therefore looks busy to the picker.
BATCH_SLOTS = 4
KV_PER_SEQUENCE = 0.08


@dataclass
class Behaviour:
    answer: str = "normal"  # normal | hang | cut_stream
    answer_delay_s: float = 0.0
    metrics: str = "ok"  # ok | garbage | hang
    received: int = 0  # since the last control call
    served: int = 0
    running: int = 0


class FakeReplica:
    def __init__(self, name: str) -> None:
        self.name = name
        self.behaviour = Behaviour()

    def _headers(self) -> dict[str, str]:
        return {"x-sim-replica": self.name}

    async def control(self, request: web.Request) -> web.Response:
        settings = await request.json()
        for key, value in settings.items():
            if not hasattr(self.behaviour, key):
                return web.json_response({"error": f"unknown setting {key}"}, status=400)
            setattr(self.behaviour, key, value)
        # Each control call starts a new observation window for the test that made it.
        self.behaviour.received = self.behaviour.served = 0
        return web.json_response(vars(self.behaviour))

    async def stats(self, _: web.Request) -> web.Response:
        return web.json_response(vars(self.behaviour))

    async def metrics(self, _: web.Request) -> web.Response:
        if self.behaviour.metrics == "garbage":
            return web.Response(text="<html>this is not prometheus {{{\n\x00\xff", status=200)
        if self.behaviour.metrics == "hang":
            await asyncio.sleep(3600)
        in_flight = self.behaviour.running
        return web.Response(
            text=VLLM_METRICS.format(
                waiting=max(0, in_flight - BATCH_SLOTS),
                running=min(in_flight, BATCH_SLOTS),
                kv_usage=min(0.95, 0.05 + KV_PER_SEQUENCE * in_flight),
            )
        )

    async def generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.behaviour.received += 1
        self.behaviour.running += 1
        try:
            if self.behaviour.answer == "hang":
                await asyncio.sleep(3600)
            if self.behaviour.answer_delay_s:
                await asyncio.sleep(self.behaviour.answer_delay_s)
            self.behaviour.served += 1
            if body.get("stream"):
                response = web.StreamResponse(
                    headers={"content-type": "text/event-stream", **self._headers()}
                )
                await response.prepare(request)
                for index in range(3):
                    chunk = {"choices": [{"index": 0, "text": f"t{index}"}], "served_by": self.name}
                    await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    # Tokens take time, so the client has the headers and a chunk before the cut.
                    await asyncio.sleep(0.2)
                    if self.behaviour.answer == "cut_stream" and index == 1:
                        # Drop the connection mid-stream, as a crashing server would.
                        assert request.transport is not None
                        request.transport.abort()
                        return response
                await response.write(b"data: [DONE]\n\n")
                await response.write_eof()
                return response
            return web.json_response(
                {
                    "object": "text_completion",
                    "model": body.get("model"),
                    "choices": [{"index": 0, "text": "ok", "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
                headers=self._headers(),
            )
        finally:
            self.behaviour.running -= 1


async def serve(name: str, host: str, port: int) -> None:
    replica = FakeReplica(name)
    app = web.Application()
    app.router.add_post("/v1/completions", replica.generate)
    app.router.add_post("/v1/chat/completions", replica.generate)
    app.router.add_get("/metrics", replica.metrics)
    app.router.add_post("/control", replica.control)
    app.router.add_get("/control", replica.stats)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(SimReadinessLine(url=f"http://{host}:{bound}", port=bound, name=name).render(), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.name, args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
