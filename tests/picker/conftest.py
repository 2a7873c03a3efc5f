"""Shared picker test fixtures: a recording RequestDirector double and an in-process ext_proc server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from picker.errors import PickerError
from picker.framework.types import Endpoint, InferenceRequest, ResponseUsage, RoutingDecision
from picker.server.ext_proc import ExternalProcessorService, ExtProcSettings
from picker.server.grpc_server import GrpcServer


@dataclass
class RecordingDirector:
    """A RequestDirector that records every call and answers as configured.

    ``route`` applies the model rewrite as the real director does (body["model"] = target_model),
    answers ``endpoints`` or raises ``route_error``; ``route_gate``, when set, makes ``route`` wait.
    """

    endpoints: tuple[Endpoint, ...] = (Endpoint(name="pod-a-rank-0", address="10.0.0.1", port=8000),)
    route_error: PickerError | None = None
    pick_any_error: PickerError | None = None
    route_gate: asyncio.Event | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def requests(self) -> list[InferenceRequest]:
        return [args for name, args in self.calls if name in ("route", "pick_any")]

    async def route(self, request: InferenceRequest) -> RoutingDecision:
        self.calls.append(("route", request))
        if self.route_gate is not None:
            try:
                await self.route_gate.wait()
            except asyncio.CancelledError:
                self.calls.append(("route_cancelled", request))
                raise
        if self.route_error is not None:
            raise self.route_error
        request.body["model"] = request.target_model
        return RoutingDecision(endpoints=self.endpoints, body=request.body)

    def pick_any(self, request: InferenceRequest) -> RoutingDecision:
        self.calls.append(("pick_any", request))
        if self.pick_any_error is not None:
            raise self.pick_any_error
        return RoutingDecision(endpoints=self.endpoints[:1], body={})

    def on_response_headers(self, request: InferenceRequest, status: int, streaming: bool) -> None:
        self.calls.append(("on_response_headers", (status, streaming)))

    def on_response_complete(
        self, request: InferenceRequest, served: Endpoint | None, usage: ResponseUsage, response_bytes: int
    ) -> None:
        self.calls.append(("on_response_complete", (served, usage, response_bytes)))

    def release(self, request: InferenceRequest) -> None:
        self.calls.append(("release", request))


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
