"""The ext_proc ``ExternalProcessor`` service: one ``Process`` stream per HTTP request, handed to a
RequestStream that turns it into an InferenceRequest, asks the RequestDirector, and answers Envoy.

The transport only moves messages: read a ProcessingRequest, hand it over, write the answers, and end the
stream when the RequestStream is finished, the client half-closes, or the call is cancelled. GrpcServer
serves this bidirectional stream through ``message_call.MessageCall`` (grpclib's HTTP/2 stream without its
per-message layers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest, ProcessingResponse
from grpclib.const import Cardinality, Handler

from picker.request_director import RequestDirector
from picker.server.ext_proc_settings import ExtProcSettings
from picker.server.message_call import MessageStream
from picker.server.request_stream import RequestStream

__all__ = ["PROCESS_METHOD", "ExtProcSettings", "ExternalProcessorService"]

PROCESS_METHOD = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"


class ExternalProcessorService:
    """``envoy.service.ext_proc.v3.ExternalProcessor`` for grpclib: one ``Process`` stream per request."""

    def __init__(
        self,
        director: RequestDirector,
        settings: ExtProcSettings | None = None,
        new_request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._director = director
        self._settings = settings or ExtProcSettings()
        self._new_request_id = new_request_id

    def __mapping__(self) -> Mapping[str, Handler]:
        return {
            PROCESS_METHOD: Handler(
                self.process, Cardinality.STREAM_STREAM, ProcessingRequest, ProcessingResponse
            )
        }

    async def process(self, call: MessageStream[ProcessingRequest, ProcessingResponse]) -> None:
        # Leaving the block, also on client cancel (grpclib cancels this task), releases the routed request.
        with RequestStream(self._director, self._settings, self._new_request_id) as stream:
            while (message := await call.recv_message()) is not None:
                await call.send_messages(await stream.handle(message))  # one write for all the answers
                if stream.finished:
                    return
