"""The engine priority through the ext_proc stream: a real Director behind the picker's gRPC server.

With ``--model-server-scheduling-policy priority`` the forwarded body carries vLLM's ``priority`` for
requests with a known objective (content-length follows); every other body leaves byte for byte.
"""

from __future__ import annotations

import json
import random

import grpc
import pytest
from extproc_messages import read, request_body, request_headers, set_headers, streamed_chunks
from picker.config import default_config
from picker.datastore.store import EndpointStore
from picker.factory import build_director
from picker.framework.clock import FakeClock
from picker.framework.types import Endpoint, EndpointMetrics
from picker.server.envoy_requests import BodyMode
from picker.server.ext_proc import ExtProcSettings

BUFFERED = ExtProcSettings(request_body_mode=BodyMode.BUFFERED, response_body_mode=BodyMode.BUFFERED)
OBJECTIVE = "x-gateway-inference-objective"
BODIES = {
    "completions": {"model": "base", "prompt": "Tell me about pizza.", "max_tokens": 5},
    "chat": {"model": "base", "messages": [{"role": "user", "content": "Hi!"}], "max_tokens": 5},
}


def real_director(policy: str):
    clock = FakeClock()
    store = EndpointStore()
    store.replace_endpoints([Endpoint("pod-a", "10.0.0.1", 8000)])
    store.update_metrics("pod-a", EndpointMetrics(updated_at_s=clock.now()))
    store.replace_objectives({"critical": 10, "batch": -1})
    return build_director(
        default_config(), store, clock, random.Random(0), model_server_scheduling_policy=policy
    )


async def forward(ext_proc_stub, policy: str, body: bytes, headers: dict[str, str], mode: str) -> bytes:
    """Send one request; the bytes the picker lets through (checking content-length against them)."""
    settings = BUFFERED if mode == "buffered" else None
    async with ext_proc_stub(real_director(policy), settings) as stub:
        call = stub.Process()
        await call.write(request_headers(headers))
        if mode == "buffered":
            await read(call)  # the headers pass first in BUFFERED mode
            await call.write(request_body(body, end_of_stream=True))
            (answer,) = await read(call)
            common = answer.request_body.response
            forwarded = common.body_mutation.body if common.HasField("body_mutation") else body
            length = set_headers(answer)["content-length"]
        else:
            await call.write(request_body(body, end_of_stream=True))
            headers_answer, body_answer = await read(call, 2)
            ((forwarded, end_of_stream),) = streamed_chunks([body_answer])
            assert end_of_stream
            length = set_headers(headers_answer)["content-length"]
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert length == str(len(forwarded))
    return forwarded


@pytest.mark.parametrize("mode", ["full-duplex", "buffered"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", ["completions", "chat"])
async def test_objective_priority_reaches_a_priority_pool_negated(ext_proc_stub, kind, stream, mode) -> None:
    sent = BODIES[kind] | {"stream": stream}
    for objective, expected in (("critical", -10), ("batch", 1)):
        forwarded = await forward(
            ext_proc_stub, "priority", json.dumps(sent).encode(), {OBJECTIVE: objective}, mode
        )
        assert json.loads(forwarded) == sent | {"priority": expected}


@pytest.mark.parametrize("mode", ["full-duplex", "buffered"])
@pytest.mark.parametrize("headers", [{}, {OBJECTIVE: "no-such-objective"}])
async def test_without_a_known_objective_the_body_bytes_are_untouched(ext_proc_stub, headers, mode) -> None:
    body = b'{"prompt": "spacing kept", "model":"base",  "stream": true}'
    assert await forward(ext_proc_stub, "priority", body, headers, mode) == body


async def test_a_client_sent_priority_is_overwritten(ext_proc_stub) -> None:
    sent = BODIES["chat"] | {"priority": -1000}
    forwarded = await forward(ext_proc_stub, "priority", json.dumps(sent).encode(), {OBJECTIVE: "batch"}, "")
    assert json.loads(forwarded)["priority"] == 1
    forwarded = await forward(ext_proc_stub, "priority", json.dumps(sent).encode(), {}, "")
    assert json.loads(forwarded)["priority"] == 0


@pytest.mark.parametrize("mode", ["full-duplex", "buffered"])
@pytest.mark.parametrize("client_priority", [None, 5])
async def test_an_fcfs_pool_gets_the_client_bytes(ext_proc_stub, client_priority, mode) -> None:
    sent = BODIES["completions"] | ({} if client_priority is None else {"priority": client_priority})
    body = json.dumps(sent).encode()
    assert await forward(ext_proc_stub, "fcfs", body, {OBJECTIVE: "critical"}, mode) == body
