"""``python -m picker`` runs on uvloop by default (``--uvloop=false``: asyncio's own loop): the choice, its
error when uvloop is missing, and the picker's servers working on uvloop's transports and servers."""

from __future__ import annotations

import asyncio
import datetime
import sys
import urllib.request

import grpc
import pytest
import uvloop
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from picker.cli import OptionsError, parse_options
from picker.event_loop import loop_factory, run
from picker.server.ext_proc import ExternalProcessorService
from picker.server.grpc_server import GrpcServer
from picker.server.metrics_endpoint import MetricsEndpoint
from picker.server.tls import self_signed_certificate, server_ssl_context
from prometheus_client import CollectorRegistry

from tests.picker.server.extproc_messages import completion_body, request_body, request_headers

TIMEOUT_S = 10.0


def test_uvloop_is_the_default_and_can_be_turned_off():
    assert parse_options(["--endpoints-file", "pool.yaml"]).uvloop is True
    assert parse_options(["--endpoints-file", "pool.yaml", "--uvloop=false"]).uvloop is False
    assert loop_factory(False) is None
    assert loop_factory(True) is uvloop.new_event_loop


def test_asyncio_loop_when_turned_off():
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert not issubclass(run(loop_type(), loop_factory(False)), uvloop.Loop)
    assert issubclass(run(loop_type(), loop_factory(True)), uvloop.Loop)


def test_a_missing_uvloop_names_the_flag_and_the_way_out(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with pytest.raises(OptionsError, match=r"--uvloop: uvloop cannot be imported .*--uvloop=false"):
        loop_factory(True)


def _one_exchange(port: int, certificate_pem: bytes) -> list[str]:
    """A blocking grpcio client (its own thread, its own loop): request headers and body, two answers."""
    credentials = grpc.ssl_channel_credentials(root_certificates=certificate_pem)
    options = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
        stub = external_processor_pb2_grpc.ExternalProcessorStub(channel)
        answers = stub.Process(
            iter([request_headers(), request_body(completion_body(), end_of_stream=True)]), timeout=TIMEOUT_S
        )
        return [answer.WhichOneof("response") for answer in answers]


def _scrape(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT_S) as response:
        return int(response.status)


def test_the_pickers_servers_work_on_uvloop(recording_director, tmp_path):
    """ext_proc over TLS (uvloop's SSL transport under the coalescing writer) and the metrics endpoint,
    whose port is read back from uvloop's server (not an asyncio.Server)."""
    now = datetime.datetime.now(datetime.UTC)
    certificate_pem, key_pem = self_signed_certificate(now)
    (tmp_path / "tls.crt").write_bytes(certificate_pem)
    (tmp_path / "tls.key").write_bytes(key_pem)

    async def serve_and_call() -> tuple[list[str], int]:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        server = GrpcServer([ExternalProcessorService(recording_director, new_request_id=lambda: "id")])
        metrics = MetricsEndpoint(CollectorRegistry())
        port = await server.start("127.0.0.1", 0, "--grpc-port", server_ssl_context(tmp_path, now))
        metrics_port = await metrics.start("127.0.0.1", 0)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                answers = await asyncio.to_thread(_one_exchange, port, certificate_pem)
                status = await asyncio.to_thread(_scrape, metrics_port)
        finally:
            await metrics.stop()
            await server.stop(grace_s=None)
        return answers, status

    answers, status = run(serve_and_call(), loop_factory(True))
    assert answers == ["request_headers", "request_body"]
    assert status == 200
    assert recording_director.names() == ["route", "release"]
