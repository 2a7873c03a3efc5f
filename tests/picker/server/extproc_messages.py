"""Builders for the ProcessingRequests Envoy sends, and readers for the answers, used by protocol tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from envoy.config.core.v3.base_pb2 import HeaderMap, HeaderValue
from envoy.service.ext_proc.v3.external_processor_pb2 import (
    HttpBody,
    HttpHeaders,
    HttpTrailers,
    ProcessingRequest,
    ProcessingResponse,
)
from google.protobuf.struct_pb2 import Struct

READ_TIMEOUT_S = 5.0


def _header_map(headers: dict[str, str]) -> HeaderMap:
    return HeaderMap(
        headers=[HeaderValue(key=name, raw_value=value.encode()) for name, value in headers.items()]
    )


def _metadata(namespaces: dict[str, dict[str, Any]]) -> Any:
    from envoy.config.core.v3.base_pb2 import Metadata

    metadata = Metadata()
    for namespace, fields in namespaces.items():
        struct = Struct()
        struct.update(fields)
        metadata.filter_metadata[namespace].CopyFrom(struct)
    return metadata


def request_headers(
    headers: dict[str, str] | None = None,
    end_of_stream: bool = False,
    metadata: dict[str, dict[str, Any]] | None = None,
    method: str = "POST",
) -> ProcessingRequest:
    all_headers = {":method": method, ":path": "/v1/completions", ":authority": "gateway", **(headers or {})}
    message = ProcessingRequest(
        request_headers=HttpHeaders(headers=_header_map(all_headers), end_of_stream=end_of_stream)
    )
    if metadata:
        message.metadata_context.CopyFrom(_metadata(metadata))
    return message


def request_body(body: bytes, end_of_stream: bool) -> ProcessingRequest:
    return ProcessingRequest(request_body=HttpBody(body=body, end_of_stream=end_of_stream))


def request_trailers() -> ProcessingRequest:
    return ProcessingRequest(request_trailers=HttpTrailers())


def response_headers(
    headers: dict[str, str], end_of_stream: bool = False, metadata: dict[str, dict[str, Any]] | None = None
) -> ProcessingRequest:
    message = ProcessingRequest(
        response_headers=HttpHeaders(headers=_header_map(headers), end_of_stream=end_of_stream)
    )
    if metadata:
        message.metadata_context.CopyFrom(_metadata(metadata))
    return message


def response_body(body: bytes, end_of_stream: bool) -> ProcessingRequest:
    return ProcessingRequest(response_body=HttpBody(body=body, end_of_stream=end_of_stream))


def completion_body(model: str = "base-model", prompt: str = "hello", **extra: Any) -> bytes:
    return json.dumps({"model": model, "prompt": prompt, **extra}).encode()


async def read(call: Any, count: int = 1) -> list[ProcessingResponse]:
    """Read exactly ``count`` responses, each within READ_TIMEOUT_S."""
    return [await asyncio.wait_for(call.read(), READ_TIMEOUT_S) for _ in range(count)]


async def route_completion(call: Any) -> list[ProcessingResponse]:
    """Send a completion request whole (headers, then its body with end of stream) and read the two
    full-duplex answers: the headers (with the destination), then the body."""
    await call.write(request_headers())
    await call.write(request_body(completion_body(), end_of_stream=True))
    return await read(call, 2)


def set_headers(response: ProcessingResponse) -> dict[str, str]:
    phase = response.WhichOneof("response")
    common = getattr(response, phase).response
    return {
        option.header.key: option.header.raw_value.decode() for option in common.header_mutation.set_headers
    }


def removed_headers(response: ProcessingResponse) -> list[str]:
    phase = response.WhichOneof("response")
    return list(getattr(response, phase).response.header_mutation.remove_headers)


def streamed_chunks(responses: list[ProcessingResponse]) -> list[tuple[bytes, bool]]:
    chunks = []
    for response in responses:
        phase = response.WhichOneof("response")
        streamed = getattr(response, phase).response.body_mutation.streamed_response
        chunks.append((streamed.body, streamed.end_of_stream))
    return chunks


def lb_metadata(response: ProcessingResponse) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(response.dynamic_metadata)
