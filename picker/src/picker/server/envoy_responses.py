"""Pure builders for ext_proc ``ProcessingResponse`` messages: header mutations, ``envoy.lb`` dynamic
metadata, streamed body chunks and ImmediateResponse errors. No state, no I/O.

These run several times per request, so messages are filled in place through field paths: with upb,
nested constructors copy every submessage (and body bytes) once per nesting level.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from envoy.config.core.v3.base_pb2 import HeaderValueOption
from envoy.service.ext_proc.v3.external_processor_pb2 import (
    BodyResponse,
    CommonResponse,
    HeaderMutation,
    HeadersResponse,
    ImmediateResponse,
    ProcessingResponse,
    TrailersResponse,
)
from envoy.type.v3.http_status_pb2 import HttpStatus
from google.protobuf.struct_pb2 import Struct

from picker.errors import PickerError
from picker.gateway_protocol import (
    DESTINATION_ENDPOINT_HEADER,
    DESTINATION_ENDPOINT_KEY,
    DESTINATION_ENDPOINT_NAMESPACE,
    MAX_BODY_CHUNK_BYTES,
)

_OVERWRITE = HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def fill_header_mutation(
    mutation: HeaderMutation, set_headers: Mapping[str, str], remove_headers: Iterable[str] = ()
) -> HeaderMutation:
    """Overwrite-or-add every ``set_headers`` entry and remove ``remove_headers``, in ``mutation``."""
    for name, value in set_headers.items():
        option = mutation.set_headers.add()
        option.header.key = name
        option.header.raw_value = value.encode()
        option.append_action = _OVERWRITE
    mutation.remove_headers.extend(remove_headers)
    return mutation


def header_mutation(set_headers: Mapping[str, str], remove_headers: Iterable[str] = ()) -> HeaderMutation:
    """A new mutation: overwrite-or-add every ``set_headers`` entry and remove ``remove_headers``."""
    return fill_header_mutation(HeaderMutation(), set_headers, remove_headers)


def fill_destination_metadata(metadata: Struct, destination: str) -> Struct:
    """``envoy.lb`` / ``x-gateway-destination-endpoint`` = destination (same value as the header)."""
    namespace = metadata.fields[DESTINATION_ENDPOINT_NAMESPACE].struct_value
    namespace.fields[DESTINATION_ENDPOINT_KEY].string_value = destination
    return metadata


def destination_metadata(destination: str) -> Struct:
    return fill_destination_metadata(Struct(), destination)


def _routing_headers(
    destination: str, extra_headers: Mapping[str, str], content_length: int | None
) -> dict[str, str]:
    headers = {DESTINATION_ENDPOINT_HEADER: destination, **extra_headers}
    if content_length is not None:
        headers["content-length"] = str(content_length)
    return headers


def routed_request_headers_response(
    destination: str,
    extra_headers: Mapping[str, str],
    remove_headers: Iterable[str],
    content_length: int | None,
) -> ProcessingResponse:
    """Answer to the request-headers phase that routes the request (GET, or FULL_DUPLEX after the body):
    destination header, length, injected and removed headers, ``envoy.lb`` metadata.

    ``clear_route_cache`` makes Envoy re-match routes now that the destination is known.
    """
    response = ProcessingResponse()
    common = response.request_headers.response
    common.clear_route_cache = True
    fill_header_mutation(
        common.header_mutation, _routing_headers(destination, extra_headers, content_length), remove_headers
    )
    fill_destination_metadata(response.dynamic_metadata, destination)
    return response


def routed_buffered_body_response(
    destination: str,
    extra_headers: Mapping[str, str],
    remove_headers: Iterable[str],
    content_length: int,
    new_body: bytes | None,
) -> ProcessingResponse:
    """BUFFERED mode: the body answer carries the header changes, and the new body only if it changed."""
    response = ProcessingResponse()
    common = response.request_body.response
    common.clear_route_cache = True
    fill_header_mutation(
        common.header_mutation, _routing_headers(destination, extra_headers, content_length), remove_headers
    )
    if new_body is not None:
        common.body_mutation.body = new_body
    fill_destination_metadata(response.dynamic_metadata, destination)
    return response


# The pass-through answers never vary: parsing their wire form is a fraction of the cost of building them
# from nested messages (each constructor copies its submessages).
_CONTINUE_REQUEST_HEADERS = ProcessingResponse(
    request_headers=HeadersResponse(response=CommonResponse())
).SerializeToString()
_CONTINUE_RESPONSE_HEADERS = ProcessingResponse(
    response_headers=HeadersResponse(response=CommonResponse())
).SerializeToString()
_CONTINUE_RESPONSE_BODY = ProcessingResponse(
    response_body=BodyResponse(response=CommonResponse())
).SerializeToString()
_CONTINUE_REQUEST_TRAILERS = ProcessingResponse(request_trailers=TrailersResponse()).SerializeToString()
_CONTINUE_RESPONSE_TRAILERS = ProcessingResponse(response_trailers=TrailersResponse()).SerializeToString()


def continue_request_headers() -> ProcessingResponse:
    """Let the request headers go on unchanged (BUFFERED mode, before the body)."""
    return ProcessingResponse.FromString(_CONTINUE_REQUEST_HEADERS)


def continue_response_headers() -> ProcessingResponse:
    return ProcessingResponse.FromString(_CONTINUE_RESPONSE_HEADERS)


def continue_response_body() -> ProcessingResponse:
    return ProcessingResponse.FromString(_CONTINUE_RESPONSE_BODY)


def continue_request_trailers() -> ProcessingResponse:
    return ProcessingResponse.FromString(_CONTINUE_REQUEST_TRAILERS)


def continue_response_trailers() -> ProcessingResponse:
    return ProcessingResponse.FromString(_CONTINUE_RESPONSE_TRAILERS)


def _fill_streamed_chunk(body_response: BodyResponse, chunk: bytes, end_of_stream: bool) -> None:
    streamed = body_response.response.body_mutation.streamed_response
    streamed.body = chunk
    streamed.end_of_stream = end_of_stream


def _streamed_chunks(
    phase: str, body: bytes, end_of_stream: bool, chunk_bytes: int
) -> Iterator[ProcessingResponse]:
    if len(body) <= chunk_bytes:  # the common case: one chunk, no slicing
        response = ProcessingResponse()
        _fill_streamed_chunk(getattr(response, phase), body, end_of_stream)
        yield response
        return
    view = memoryview(body)
    for start in range(0, len(body), chunk_bytes):
        last = start + chunk_bytes >= len(body)
        response = ProcessingResponse()
        _fill_streamed_chunk(
            getattr(response, phase), bytes(view[start : start + chunk_bytes]), end_of_stream and last
        )
        yield response


def streamed_request_body(
    body: bytes, end_of_stream: bool = True, chunk_bytes: int = MAX_BODY_CHUNK_BYTES
) -> Iterator[ProcessingResponse]:
    """FULL_DUPLEX_STREAMED: the request body as chunks of at most ``chunk_bytes``; the last one carries EoS.

    An empty body still yields one (empty) chunk so Envoy sees the end of stream.
    """
    return _streamed_chunks("request_body", body, end_of_stream, chunk_bytes)


def streamed_response_chunk(chunk: bytes, end_of_stream: bool) -> ProcessingResponse:
    """FULL_DUPLEX_STREAMED: one response chunk passed through as it came (the caller keeps it within the
    chunk limit). The per-SSE-event answer, so it skips the generic chunking path."""
    response = ProcessingResponse()
    streamed = response.response_body.response.body_mutation.streamed_response
    streamed.body = chunk
    if end_of_stream:  # false is the proto3 default: nothing to set
        streamed.end_of_stream = True
    return response


def streamed_response_body(
    body: bytes, end_of_stream: bool, chunk_bytes: int = MAX_BODY_CHUNK_BYTES
) -> Iterator[ProcessingResponse]:
    """FULL_DUPLEX_STREAMED: response bytes as chunks of at most ``chunk_bytes`` (one SSE piece passed
    through as it came, or a whole buffered JSON body); the last one carries ``end_of_stream``."""
    return _streamed_chunks("response_body", body, end_of_stream, chunk_bytes)


def immediate_error_response(error: PickerError) -> ProcessingResponse:
    """Answer the client directly: the error's HTTP status and its OpenAI-style JSON body."""
    body = json.dumps(error.openai_body(), separators=(",", ":")).encode()
    return ProcessingResponse(
        immediate_response=ImmediateResponse(
            status=HttpStatus(code=error.http_status),
            headers=header_mutation({"content-type": "application/json"}),
            body=body,
            details=f"picker_{error.code.value}",
        )
    )
