"""Shared picker test fixtures: a recording RequestDirector double and an in-process ext_proc server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from picker.server.ext_proc import ExternalProcessorService, ExtProcSettings
from picker.server.grpc_server import GrpcServer

from tests.picker.recording_director import RecordingDirector


@pytest.fixture
def recording_director() -> RecordingDirector:
    return RecordingDirector()


ExtProcStubFactory = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture
def ext_proc_stub() -> ExtProcStubFactory:
    """``async with ext_proc_stub(director, settings) as stub``: the picker's grpclib server on 127.0.0.1:0,
    a grpcio client stub (an independent gRPC implementation on the other end)."""

    @contextlib.asynccontextmanager
    async def start(
        director: RecordingDirector, settings: ExtProcSettings | None = None
    ) -> AsyncIterator[external_processor_pb2_grpc.ExternalProcessorStub]:
        server = GrpcServer(
            [ExternalProcessorService(director, settings, new_request_id=lambda: "generated-id")]
        )
        port = await server.start("127.0.0.1", 0, "--grpc-port")
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield external_processor_pb2_grpc.ExternalProcessorStub(channel)
        finally:
            await channel.close()
            await server.stop(grace_s=None)

    return start
