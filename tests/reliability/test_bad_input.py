"""Bad input through the whole gateway (Envoy -> picker -> simulator): each row is refused with the right
4xx and an OpenAI-style error body, or served when the input is merely odd; a client never chooses its
replica; and the gateway keeps serving afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from bench.soak.gateway import (
    GatewayUnderTest,
    Replica,
    fake_replica,
    sim_replica,
    start_gateway,
)

FAKE_REPLICA_SCRIPT = Path(__file__).with_name("fake_replica.py")
pytestmark = pytest.mark.integration

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TEN_MIB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Row:
    body: bytes
    status: int
    error_type: str | None = None  # None: a served completion is expected
    path: str = "/v1/completions"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def _completion(**fields: object) -> bytes:
    return _json({"model": MODEL, "max_tokens": 2, **fields})


# The picker refuses with OpenAI's type names (invalid_request_error); the simulator, as vLLM, with its
# exception names (BadRequestError, NotFoundError, ...). Each row names the layer's type it expects.
BAD_REQUEST = "invalid_request_error"
ROWS: dict[str, Row] = {
    "malformed json": Row(b'{"model": "' + MODEL.encode() + b'", "prompt": ', 400, BAD_REQUEST),
    "json that is not an object": Row(b'["not", "an", "object"]', 400, BAD_REQUEST),
    # No body at all reaches the replica (the picker routes a body-less request at once) and is refused there.
    "empty body": Row(b"", 400, "BadRequestError"),
    "wrong content type": Row(
        _completion(prompt="hello"), 415, "UnsupportedMediaTypeError", headers={"content-type": "text/plain"}
    ),
    "missing model": Row(_json({"prompt": "hello", "max_tokens": 2}), 400, BAD_REQUEST),
    "model not a string": Row(_json({"model": 7, "prompt": "hello"}), 400, BAD_REQUEST),
    "unknown model": Row(
        _json({"model": "no-such-model", "prompt": "hi", "max_tokens": 2}), 404, "NotFoundError"
    ),
    "prompt is a number": Row(_completion(prompt=42), 400, BAD_REQUEST),
    "prompt is an object": Row(_completion(prompt={"text": "hi"}), 400, BAD_REQUEST),
    "prompt is a list of mixed types": Row(_completion(prompt=["a", 1, None]), 400, BAD_REQUEST),
    "neither prompt nor messages": Row(_json({"model": MODEL}), 400, BAD_REQUEST),
    "negative max_tokens": Row(_completion(prompt="hello", max_tokens=-5), 400, "BadRequestError"),
    "zero max_tokens": Row(_completion(prompt="hello", max_tokens=0), 400, "BadRequestError"),
    "absurd max_tokens": Row(_completion(prompt="hello", max_tokens=10**15), 400, "BadRequestError"),
    "max_tokens not a number": Row(_completion(prompt="hello", max_tokens="lots"), 400, "BadRequestError"),
    "empty messages": Row(
        _json({"model": MODEL, "messages": []}), 400, BAD_REQUEST, path="/v1/chat/completions"
    ),
    "messages not a list": Row(
        _json({"model": MODEL, "messages": "hi"}), 400, BAD_REQUEST, path="/v1/chat/completions"
    ),
    "message not an object": Row(
        _json({"model": MODEL, "messages": ["hi"]}), 400, BAD_REQUEST, path="/v1/chat/completions"
    ),
    # 10 MiB through ext_proc and both parsers: JSON whitespace, so the prompt stays short. (A 10 MiB
    # *prompt* is refused with 400 too, but only after the simulator tokenizes all of it: ~7 s per MiB,
    # see docs/reliability.md.)
    "10 MiB body": Row(
        b'{"model": "' + MODEL.encode() + b'", "max_tokens": 2,' + b" " * TEN_MIB + b'"prompt": "big body"}',
        200,
    ),
    "invalid utf-8": Row(b'{"model": "' + MODEL.encode() + b'", "prompt": "\xff\xfe\xfa"}', 400, BAD_REQUEST),
    "unknown objective (default priority)": Row(
        _completion(prompt="hello"),
        200,
        headers={"content-type": "application/json", "x-gateway-inference-objective": "no-such-objective"},
    ),
    "odd fairness id": Row(
        _completion(prompt="hello"),
        200,
        headers={"content-type": "application/json", "x-gateway-inference-fairness-id": "x" * 4096},
    ),
    "model rewrite to an unknown model": Row(
        _completion(prompt="hello"),
        404,
        "NotFoundError",
        headers={"content-type": "application/json", "x-gateway-model-name-rewrite": "no-such-model"},
    ),
    "control header with control characters": Row(
        _completion(prompt="hello"),
        200,
        headers={"content-type": "application/json", "x-gateway-inference-objective": "a\tb;DROP"},
    ),
}


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-input")


@pytest.fixture(scope="module")
def trap(work_dir: Path) -> Iterator[Replica]:
    """A model server outside the pool: a request landing here was routed by a client-sent header."""
    trap = fake_replica(work_dir, "trap", FAKE_REPLICA_SCRIPT)
    trap.start()
    trap.wait_ready_blocking()
    yield trap
    trap.child.stop_blocking()
    assert not trap.child.running


@pytest.fixture(scope="module")
def gateway(work_dir: Path) -> Iterator[GatewayUnderTest]:
    replicas = [sim_replica(work_dir, f"replica-{i}") for i in range(2)]
    gateway = start_gateway(work_dir, replicas, objectives={"critical": 10, "batch": -1})
    yield gateway
    gateway.stop()
    assert gateway.leftover_processes() == []


async def _post(url: str, row: Row) -> tuple[int, dict[str, str], object]:
    # Generous for a shared 2-core box: every row is answered in well under a second when the box is idle.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        async with session.post(url + row.path, data=row.body, headers=row.headers) as response:
            text = await response.text(errors="replace")
            try:
                body: object = json.loads(text)
            except json.JSONDecodeError:
                body = text
            return response.status, {k.lower(): v for k, v in response.headers.items()}, body


def assert_openai_error(body: object, error_type: str) -> None:
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"], error
    assert error["type"] == error_type, error
    assert "code" in error and "param" in error, error


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
async def test_bad_input_row(gateway: GatewayUnderTest, row: Row) -> None:
    status, headers, body = await _post(gateway.url(), row)
    assert status == row.status, body
    if row.error_type is None:
        assert isinstance(body, dict) and body["choices"][0]["text"] is not None, body
        assert headers.get("x-sim-replica", "").startswith("replica-")
    else:
        assert headers.get("content-type", "").startswith("application/json")
        assert_openai_error(body, row.error_type)


@pytest.mark.parametrize("target", ["trap replica", "closed port", "list with the trap first"])
async def test_client_sent_destination_header_is_never_obeyed(
    gateway: GatewayUnderTest, trap: Replica, target: str
) -> None:
    trap.control(answer="normal")  # resets its served counter
    closed_port = "127.0.0.1:1"
    value = {
        "trap replica": trap.hostport,
        "closed port": closed_port,
        "list with the trap first": f"{trap.hostport},{closed_port}",
    }[target]
    row = Row(
        _completion(prompt="who serves me?"),
        200,
        headers={"content-type": "application/json", "x-gateway-destination-endpoint": value},
    )
    for _ in range(3):
        status, headers, body = await _post(gateway.url(), row)
        assert status == 200, body
        assert headers["x-sim-replica"] in {r.name for r in gateway.replicas}
    assert trap.stats()["served"] == 0, "a client-chosen destination was obeyed"


async def test_gateway_still_serves_after_the_table(gateway: GatewayUnderTest) -> None:
    status, _, body = await _post(gateway.url(), Row(_completion(prompt="still there?"), 200))
    assert status == 200, body
    assert all(r.child.running for r in gateway.replicas)
    assert gateway.picker.child.running
