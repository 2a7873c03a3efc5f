"""Pure builders for ext_proc ``ProcessingResponse`` messages: header mutations, ``envoy.lb`` dynamic
metadata, streamed body chunks and ImmediateResponse errors. No state, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.ext_proc.v3.external_processor_pb2 import (
    BodyMutation,
    BodyResponse,
    CommonResponse,
    HeaderMutation,
    HeadersResponse,
    ImmediateResponse,
    ProcessingResponse,
    StreamedBodyResponse,
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


def header_mutation(set_headers: Mapping[str, str], remove_headers: Iterable[str] = ()) -> HeaderMutation:
    """Overwrite-or-add every ``set_headers`` entry and remove ``remove_headers``."""
    return HeaderMutation(
        set_headers=[
            HeaderValueOption(
                header=HeaderValue(key=name, raw_value=value.encode()), append_action=_OVERWRITE
            )
            for name, value in set_headers.items()
        ],
        remove_headers=list(remove_headers),
    )


def destination_metadata(destination: str) -> Struct:
    """``envoy.lb`` / ``x-gateway-destination-endpoint`` = destination (same value as the header)."""
    metadata = Struct()
    metadata.update({DESTINATION_ENDPOINT_NAMESPACE: {DESTINATION_ENDPOINT_KEY: destination}})
    return metadata


def routing_header_mutation(
    destination: str,
    extra_headers: Mapping[str, str],
    remove_headers: Iterable[str],
    content_length: int | None,
) -> HeaderMutation:
    """The request header changes that route a request: destination, length, injected and removed headers."""
    headers = {DESTINATION_ENDPOINT_HEADER: destination, **extra_headers}
    if content_length is not None:
        headers["content-length"] = str(content_length)
    return header_mutation(headers, remove_headers)


def routed_request_headers_response(mutation: HeaderMutation, destination: str) -> ProcessingResponse:
    """Answer to the request-headers phase that carries the destination (GET, or FULL_DUPLEX after the body).

    ``clear_route_cache`` makes Envoy re-match routes now that the destination header exists.
    """
    return ProcessingResponse(
        request_headers=HeadersResponse(
            response=CommonResponse(header_mutation=mutation, clear_route_cache=True)
        ),
        dynamic_metadata=destination_metadata(destination),
    )


def routed_buffered_body_response(
    mutation: HeaderMutation, destination: str, new_body: bytes | None
) -> ProcessingResponse:
    """BUFFERED mode: the body answer carries the header changes, and the new body only if it changed."""
    common = CommonResponse(header_mutation=mutation, clear_route_cache=True)
    if new_body is not None:
        common.body_mutation.CopyFrom(BodyMutation(body=new_body))
    return ProcessingResponse(
        request_body=BodyResponse(response=common), dynamic_metadata=destination_metadata(destination)
    )


def continue_request_headers(mutation: HeaderMutation | None = None) -> ProcessingResponse:
    """Let the request headers go on (BUFFERED mode, before the body), optionally mutated."""
    common = CommonResponse() if mutation is None else CommonResponse(header_mutation=mutation)
    return ProcessingResponse(request_headers=HeadersResponse(response=common))


def continue_response_headers() -> ProcessingResponse:
    return ProcessingResponse(response_headers=HeadersResponse(response=CommonResponse()))


def continue_response_body() -> ProcessingResponse:
    return ProcessingResponse(response_body=BodyResponse(response=CommonResponse()))


def continue_request_trailers() -> ProcessingResponse:
    return ProcessingResponse(request_trailers=TrailersResponse())


def continue_response_trailers() -> ProcessingResponse:
    return ProcessingResponse(response_trailers=TrailersResponse())


def _streamed_chunk(chunk: bytes, end_of_stream: bool) -> BodyResponse:
    return BodyResponse(
        response=CommonResponse(
            body_mutation=BodyMutation(
                streamed_response=StreamedBodyResponse(body=chunk, end_of_stream=end_of_stream)
            )
        )
    )


def streamed_request_body(
    body: bytes, end_of_stream: bool = True, chunk_bytes: int = MAX_BODY_CHUNK_BYTES
) -> Iterator[ProcessingResponse]:
    """FULL_DUPLEX_STREAMED: the request body as chunks of at most ``chunk_bytes``; the last one carries EoS.

    An empty body still yields one (empty) chunk so Envoy sees the end of stream.
    """
    if not body:
        yield ProcessingResponse(request_body=_streamed_chunk(b"", end_of_stream))
        return
    view = memoryview(body)
    for start in range(0, len(body), chunk_bytes):
        last = start + chunk_bytes >= len(body)
        chunk = bytes(view[start : start + chunk_bytes])
        yield ProcessingResponse(request_body=_streamed_chunk(chunk, end_of_stream and last))


def streamed_response_body(chunk: bytes, end_of_stream: bool) -> ProcessingResponse:
    """FULL_DUPLEX_STREAMED: pass one response chunk through unchanged."""
    return ProcessingResponse(response_body=_streamed_chunk(chunk, end_of_stream))


def immediate_error_response(error: PickerError) -> ProcessingResponse:
    """Answer the client directly: the error's HTTP status and its OpenAI-style JSON body."""
    body = json.dumps(error.openai_body(), separators=(",", ":")).encode()
    return ProcessingResponse(
        immediate_response=ImmediateResponse(
            status=HttpStatus(code=error.http_status),  # type: ignore[arg-type]
            headers=header_mutation({"content-type": "application/json"}),
            body=body,
            details=f"picker_{error.code.value}",
        )
    )
