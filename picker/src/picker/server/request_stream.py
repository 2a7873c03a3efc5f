"""One ext_proc stream (one HTTP request) as a state machine: what it has received, what it owes Envoy,
and the director calls it makes, in the RequestDirector contract's order.

A context manager: the RoutedRequest a route returns is entered into the stream's exit stack, so leaving
the stream (normally, by an error answer, or because the client went away) releases it exactly once."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Self

from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest, ProcessingResponse

from picker.errors import ErrorCode, PickerError
from picker.framework.types import Endpoint, InferenceRequest, ResponseUsage, RoutingDecision
from picker.gateway_protocol import CONTROL_HEADERS, REQUEST_ID_HEADER
from picker.request_director import RequestDirector, RoutedRequest
from picker.request_parsing import (
    RequestHeaders,
    bodyless_request,
    parse_inference_request,
    parse_request_headers,
)
from picker.server import envoy_responses
from picker.server.envoy_requests import (
    BodyMode,
    announced_body_modes,
    header_map_to_dict,
    response_status_and_content_type,
    served_endpoint,
    subset_hint,
)
from picker.server.ext_proc_settings import ExtProcSettings
from picker.server.response_usage import ResponseUsageParser

logger = logging.getLogger(__name__)


def _unexpected(error: Exception) -> PickerError:
    logger.exception("unexpected error while processing a request", exc_info=error)
    return PickerError(ErrorCode.INTERNAL, "unexpected picker error; see the picker's logs")


class RequestStream:
    """Everything one ext_proc stream (one HTTP request) accumulates, and the answers it owes Envoy."""

    def __init__(
        self, director: RequestDirector, settings: ExtProcSettings, new_request_id: Callable[[], str]
    ) -> None:
        self._director = director
        self._settings = settings
        self._new_request_id = new_request_id
        self._request_body_mode = settings.request_body_mode
        self._response_body_mode = settings.response_body_mode
        self._headers: RequestHeaders | None = None
        self._removed_headers: list[str] = []
        self._subset_hint: tuple[str, ...] | None = None
        self._body = bytearray()
        self._body_complete = False
        self._request: InferenceRequest | None = None
        self._decision: RoutingDecision | None = None
        self._routed: RoutedRequest | None = None  # response-side calls go to it; released on exit
        self._owned = ExitStack()
        self._usage_parser: ResponseUsageParser | None = None
        self._response_headers_seen = False
        self._streaming_response = False
        self._held_response_body = bytearray()
        self._served: str | None = None
        self._response_complete = False
        self.finished = False

    async def handle(self, message: ProcessingRequest) -> list[ProcessingResponse]:
        phase = message.WhichOneof("request")
        try:
            if phase == "response_body":  # most messages of a request: one per SSE event
                return self._on_response_body(message)
            if phase == "request_headers":
                return self._on_request_headers(message)
            if phase == "request_body":
                return await self._on_request_body(
                    message.request_body.body, message.request_body.end_of_stream
                )
            if phase == "response_headers":
                return self._on_response_headers(message)
            if phase == "request_trailers":
                return await self._on_request_trailers()
            if phase == "response_trailers":
                self._complete_response()
                held = self._release_held_response_body(False) if self._held_response_body else []
                return [*held, envoy_responses.continue_response_trailers()]
            return []
        except PickerError as error:
            return self._fail(error)
        except Exception as error:  # a bug must cost one request, never the stream loop or the server
            return self._fail(_unexpected(error))

    def _fail(self, error: PickerError) -> list[ProcessingResponse]:
        self.finished = True
        logger.debug("request %s answered with %d: %s", self._request_id(), error.http_status, error.message)
        return [envoy_responses.immediate_error_response(error)]

    def _request_id(self) -> str:
        return self._headers.request_id if self._headers else "-"

    # --- request direction -------------------------------------------------------------------

    def _on_request_headers(self, message: ProcessingRequest) -> list[ProcessingResponse]:
        announced = announced_body_modes(message)
        if announced is not None:
            self._request_body_mode, self._response_body_mode = announced
        raw_headers = header_map_to_dict(message.request_headers.headers)
        self._subset_hint = subset_hint(message)
        self._headers = parse_request_headers(raw_headers, self._new_request_id, names_lowercased=True)
        self._removed_headers = sorted(CONTROL_HEADERS.intersection(raw_headers))
        if message.request_headers.end_of_stream:
            return self._route_bodyless()
        if self._request_body_mode is BodyMode.FULL_DUPLEX_STREAMED:
            return []  # the headers answer waits for the body: the destination depends on it
        if self._request_body_mode is BodyMode.BUFFERED:
            return [envoy_responses.continue_request_headers()]
        raise PickerError(
            ErrorCode.INTERNAL,
            f"the gateway sends request bodies in {self._request_body_mode.name} mode; configure the "
            "ext_proc filter with request_body_mode FULL_DUPLEX_STREAMED (or BUFFERED)",
        )

    def _injected_headers(self) -> dict[str, str]:
        assert self._headers is not None
        return {REQUEST_ID_HEADER: self._headers.request_id} if self._headers.request_id_generated else {}

    def _route_bodyless(self) -> list[ProcessingResponse]:
        assert self._headers is not None
        self._request = bodyless_request(self._headers, self._subset_hint)
        decision = self._director.pick_any(self._request)
        self._decision = decision
        return [
            envoy_responses.routed_request_headers_response(
                decision.destination, self._injected_headers(), self._removed_headers, content_length=None
            )
        ]

    async def _on_request_body(self, chunk: bytes, end_of_stream: bool) -> list[ProcessingResponse]:
        if self._headers is None:
            raise PickerError(ErrorCode.INTERNAL, "request body arrived before request headers")
        self._body += chunk
        if not end_of_stream:
            return []
        return await self._route_body(trailers_follow=False)

    async def _on_request_trailers(self) -> list[ProcessingResponse]:
        if self._body_complete or self._headers is None:
            return [envoy_responses.continue_request_trailers()]
        # FULL_DUPLEX with trailers: the body ends with the trailers rather than an EoS chunk.
        responses = await self._route_body(trailers_follow=True)
        if not self.finished:
            responses.append(envoy_responses.continue_request_trailers())
        return responses

    async def _route_body(self, trailers_follow: bool) -> list[ProcessingResponse]:
        assert self._headers is not None
        self._body_complete = True
        body = bytes(self._body)
        self._body.clear()
        request = parse_inference_request(self._headers, body, self._subset_hint)
        client_model = request.model
        self._request = request
        self._routed = self._owned.enter_context(await self._director.route(request))
        decision = self._decision = self._routed.decision
        # Re-serialise only when the director changed the body (a model rewrite, the engine priority).
        body_changed = (
            decision.body_changed
            or decision.body is not request.body
            or decision.body.get("model") != client_model
        )
        forwarded = json.dumps(decision.body, separators=(",", ":")).encode() if body_changed else body
        destination = decision.destination
        if self._request_body_mode is BodyMode.BUFFERED:
            return [
                envoy_responses.routed_buffered_body_response(
                    destination,
                    self._injected_headers(),
                    self._removed_headers,
                    len(forwarded),
                    forwarded if body_changed else None,
                )
            ]
        responses = [
            envoy_responses.routed_request_headers_response(
                destination, self._injected_headers(), self._removed_headers, len(forwarded)
            )
        ]
        responses.extend(
            envoy_responses.streamed_request_body(
                forwarded, end_of_stream=not trailers_follow, chunk_bytes=self._settings.body_chunk_bytes
            )
        )
        return responses

    # --- response direction ------------------------------------------------------------------

    def _note_served(self, message: ProcessingRequest) -> None:
        # The data plane reports the served endpoint once it has connected, and the report cannot change
        # within one request: once known, skip the metadata lookup on every later (SSE) chunk.
        if self._served is not None:
            return
        served = served_endpoint(message)
        if served is not None:
            self._served = served

    def _on_response_headers(self, message: ProcessingRequest) -> list[ProcessingResponse]:
        self._note_served(message)
        status_text, content_type = response_status_and_content_type(message.response_headers.headers)
        status = int(status_text) if status_text.isdigit() else 0
        streaming = "text/event-stream" in content_type
        self._usage_parser = ResponseUsageParser(streaming=streaming)
        self._response_headers_seen = True
        self._streaming_response = streaming
        if self._routed is not None:
            self._call_hook(self._routed.response_started, status, streaming)
        if message.response_headers.end_of_stream:
            self._complete_response()
        return [envoy_responses.continue_response_headers()]

    def _on_response_body(self, message: ProcessingRequest) -> list[ProcessingResponse]:
        if self._served is None:
            self._note_served(message)
        body = message.response_body  # one upb wrapper, not one per field read
        chunk = body.body
        end_of_stream = body.end_of_stream
        if self._usage_parser is None:
            self._usage_parser = ResponseUsageParser(streaming=False)
        self._usage_parser.feed(chunk)
        if end_of_stream:
            self._complete_response()
        if self._response_body_mode is not BodyMode.FULL_DUPLEX_STREAMED:
            return [envoy_responses.continue_response_body()]
        if self._streaming_response:  # SSE: every event reaches the client as soon as it exists
            if (
                len(chunk) <= self._settings.body_chunk_bytes
            ):  # an SSE chunk is small: one answer, built directly
                return [envoy_responses.streamed_response_chunk(chunk, end_of_stream)]
            return list(
                envoy_responses.streamed_response_body(chunk, end_of_stream, self._settings.body_chunk_bytes)
            )
        # A JSON body is only useful whole: hold it to the end and answer once (as the EPP does),
        # which also spares Envoy's separate empty end-of-stream message its own answer.
        self._held_response_body += chunk
        return self._release_held_response_body(end_of_stream) if end_of_stream else []

    def _release_held_response_body(self, end_of_stream: bool) -> list[ProcessingResponse]:
        body = bytes(self._held_response_body)
        self._held_response_body.clear()
        return list(
            envoy_responses.streamed_response_body(body, end_of_stream, self._settings.body_chunk_bytes)
        )

    def _served_endpoint(self) -> Endpoint | None:
        if self._served is None or self._decision is None:
            return None
        for endpoint in self._decision.endpoints:
            if endpoint.hostport == self._served:
                return endpoint
        return None

    def _complete_response(self) -> None:
        if self._response_complete or self._routed is None:
            return
        self._response_complete = True
        parser = self._usage_parser
        usage = parser.finish() if parser is not None else ResponseUsage()
        response_bytes = parser.body_bytes if parser is not None else 0
        self._call_hook(self._routed.response_complete, self._served_endpoint(), usage, response_bytes)

    def _call_hook(self, hook: Callable[..., None], *args: object) -> None:
        # Response-side hooks only record; the response must pass whatever they do.
        try:
            hook(*args)
        except Exception:
            logger.exception("director hook %s failed for request %s", hook.__name__, self._request_id())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """The stream ended (normally, by an error answer, or because the client went away)."""
        with self._owned:  # releases the routed request whatever the response-side calls do
            if self._response_headers_seen and self._response_body_mode is BodyMode.NONE:
                # The data plane never sends the body in this mode: the response is complete when the
                # stream ends (usage unknown).
                self._complete_response()
