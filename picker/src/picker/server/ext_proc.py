"""The ext_proc ``ExternalProcessor`` servicer: one ``Process`` stream per HTTP request, handed to a
RequestStream that turns it into an InferenceRequest, asks the RequestDirector, and answers Envoy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest

from picker.request_director import RequestDirector
from picker.server.ext_proc_settings import ExtProcSettings
from picker.server.request_stream import RequestStream

__all__ = ["ExtProcSettings", "ExternalProcessorServicer"]


class ExternalProcessorServicer(external_processor_pb2_grpc.ExternalProcessorServicer):
    """``envoy.service.ext_proc.v3.ExternalProcessor``: one ``Process`` stream per HTTP request."""

    def __init__(
        self,
        director: RequestDirector,
        settings: ExtProcSettings | None = None,
        new_request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._director = director
        self._settings = settings or ExtProcSettings()
        self._new_request_id = new_request_id

    async def Process(
        self, request_iterator: AsyncIterator[ProcessingRequest], context: grpc.aio.ServicerContext
    ) -> None:
        # context.read/write rather than iterating and yielding: measurably less grpc.aio overhead per
        # message, and every request costs the picker 4-5 messages each way.
        stream = RequestStream(self._director, self._settings, self._new_request_id)
        try:
            while True:
                message = await context.read()
                if message is grpc.aio.EOF:
                    return
                for response in await stream.handle(message):
                    await context.write(response)
                if stream.finished:
                    return
        finally:
            stream.close()
